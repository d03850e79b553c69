//! The fake OpenAI-compatible provider: a hand-written HTTP/1.1 server.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::http::{self, Head};
use crate::reply::{Answer, ErrorReply, Reply, StreamEnd};
use crate::wire::{self, Completion, Delta, Usage};

/// How long the `wait_*` helpers wait before panicking.
const SAFETY_DEADLINE: Duration = Duration::from_secs(30);

/// One request as the fake provider received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Request method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string after `?`, if any.
    pub query: Option<String>,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was sent chunked.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not valid JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "RecordedRequest::json: body of {} {} is not JSON ({e}): {:?}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

struct State {
    key: Option<String>,
    models: Vec<String>,
    queue: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    state: Mutex<State>,
    /// Number of requests recorded.
    received: watch::Sender<usize>,
    /// Set for good by `release()`.
    released: watch::Sender<bool>,
    /// Number of streamed responses that have ended.
    closed: watch::Sender<usize>,
    next_id: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn stream_ended(&self) {
        self.closed.send_modify(|n| *n += 1);
    }
}

/// A scriptable fake OpenAI-compatible model provider on loopback.
///
/// Speaks the Chat Completions wire format over hand-written HTTP/1.1 so
/// tests control every byte. The server (and every connection it holds)
/// stops when this value is dropped.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeProvider {
    /// Starts a provider on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If binding fails.
    pub async fn start() -> FakeProvider {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        match Self::start_on(addr).await {
            Ok(p) => p,
            Err(e) => panic!("FakeProvider::start: cannot bind {addr}: {e}"),
        }
    }

    /// Starts a provider on `addr`.
    pub async fn start_on(addr: SocketAddr) -> io::Result<FakeProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                key: None,
                models: vec!["fake-small".to_owned(), "fake-large".to_owned()],
                queue: VecDeque::new(),
                requests: Vec::new(),
            }),
            received: watch::Sender::new(0),
            released: watch::Sender::new(false),
            closed: watch::Sender::new(0),
            next_id: AtomicU64::new(0),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(FakeProvider { addr, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/v1`, what a client takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// From now on, chat and model requests must carry exactly
    /// `Authorization: Bearer <key>`; others get OpenAI's 401 bodies.
    pub fn require_key(&self, key: &str) {
        self.shared.lock().key = Some(key.to_owned());
    }

    /// Sets the models `GET /v1/models` lists and chat requests may name.
    pub fn set_models(&self, ids: &[&str]) {
        self.shared.lock().models = ids.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Queues a reply; each chat request pops one (FIFO). With the queue
    /// empty, chat requests get an echo of their last message.
    pub fn push(&self, reply: impl Into<Reply>) {
        self.shared.lock().queue.push_back(reply.into());
    }

    /// Every request received so far (all paths), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Resolves once the `n`-th request (1-based) has been fully received.
    ///
    /// # Panics
    /// If `n` is 0, or after 30 s without it.
    pub async fn wait_for_request(&self, n: usize) -> RecordedRequest {
        assert!(
            n >= 1,
            "FakeProvider::wait_for_request: n is 1-based, got 0"
        );
        let mut rx = self.shared.received.subscribe();
        let arrived = matches!(
            tokio::time::timeout(SAFETY_DEADLINE, rx.wait_for(|count| *count >= n)).await,
            Ok(Ok(_))
        );
        if !arrived {
            panic!(
                "FakeProvider::wait_for_request({n}): only {} request(s) arrived within {SAFETY_DEADLINE:?}",
                *self.shared.received.borrow()
            );
        }
        self.shared.lock().requests[n - 1].clone()
    }

    /// Lets every stream held by [`StreamEnd::Hang`] finish normally, now
    /// and for streams that reach their hang point later.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Resolves once `n` streamed responses in total have ended (finished,
    /// cut, errored, or the client went away).
    ///
    /// # Panics
    /// After 30 s without it.
    pub async fn wait_stream_closed(&self, n: usize) {
        let mut rx = self.shared.closed.subscribe();
        let arrived = matches!(
            tokio::time::timeout(SAFETY_DEADLINE, rx.wait_for(|count| *count >= n)).await,
            Ok(Ok(_))
        );
        if !arrived {
            panic!(
                "FakeProvider::wait_stream_closed({n}): only {} stream(s) ended within {SAFETY_DEADLINE:?}",
                *self.shared.closed.borrow()
            );
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping the JoinSet (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(handle_conn(stream, Arc::clone(&shared)));
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// What to do with the connection after a response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The client asked to close after this exchange.
    close: bool,
}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Writes `bytes`, split into `split`-sized writes if asked, each flushed
    /// and followed by a yield. `chunked` frames each piece as an HTTP chunk.
    async fn send_pieces(
        &mut self,
        bytes: &[u8],
        split: Option<usize>,
        chunked: bool,
    ) -> io::Result<()> {
        let piece_len = split.filter(|n| *n > 0).unwrap_or(bytes.len().max(1));
        for piece in bytes.chunks(piece_len) {
            if chunked {
                self.send(&http::chunk(piece)).await?;
            } else {
                self.send(piece).await?;
            }
            if split.is_some() {
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    /// Waits until released (`true`) or the client goes away (`false`).
    async fn hang(&mut self, shared: &Shared) -> bool {
        let mut released = shared.released.subscribe();
        loop {
            tokio::select! {
                r = released.wait_for(|r| *r) => return r.is_ok(),
                n = self.stream.read_buf(&mut self.buf) => match n {
                    Ok(0) | Err(_) => return false,
                    Ok(_) if self.buf.len() > 1024 * 1024 => return false,
                    Ok(_) => {}
                },
            }
        }
    }

    /// Standard response headers (date, request id, connection).
    fn base_headers(&self, shared: &Shared) -> Vec<(String, String)> {
        vec![
            ("date".to_owned(), http::http_date(http::unix_now())),
            (
                "x-request-id".to_owned(),
                format!("req_{:032x}", shared.next_id()),
            ),
            ("openai-version".to_owned(), "2020-10-01".to_owned()),
            ("openai-processing-ms".to_owned(), "1".to_owned()),
            (
                "connection".to_owned(),
                if self.close { "close" } else { "keep-alive" }.to_owned(),
            ),
        ]
    }

    fn next(&self) -> Next {
        if self.close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// A complete response with a `content-length` body.
    async fn respond(
        &mut self,
        shared: &Shared,
        status: u16,
        content_type: &str,
        extra: &[(String, String)],
        body: &[u8],
        split: Option<usize>,
    ) -> Next {
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        headers.extend(self.base_headers(shared));
        headers.extend(extra.iter().cloned());
        headers.push(("content-length".to_owned(), body.len().to_string()));
        if self
            .send(&http::response_head(status, &headers))
            .await
            .is_err()
        {
            return Next::Close;
        }
        match self.send_pieces(body, split, false).await {
            Ok(()) => self.next(),
            Err(_) => Next::Close,
        }
    }

    async fn respond_error(&mut self, shared: &Shared, reply: &ErrorReply) -> Next {
        delay(reply.first_byte_delay_ms).await;
        self.respond(
            shared,
            reply.status,
            &reply.content_type,
            &reply.headers,
            reply.body.as_bytes(),
            None,
        )
        .await
    }
}

async fn delay(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn handle_conn(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        close: false,
    };
    loop {
        let head = match http::read_head(&mut conn.stream, &mut conn.buf).await {
            Ok(Some(head)) => head,
            _ => return,
        };
        if head.expects_continue()
            && head.has_body()
            && conn.send(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return;
        }
        let Ok(body) = http::read_body(&mut conn.stream, &mut conn.buf, &head).await else {
            return;
        };
        conn.close = head.wants_close();
        let request = record(&shared, &head, body.decoded);
        if route(&mut conn, &shared, &request).await == Next::Close {
            let _ = conn.stream.shutdown().await;
            return;
        }
    }
}

fn record(shared: &Shared, head: &Head, body: Vec<u8>) -> RecordedRequest {
    let target = origin_form(&head.target);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let request = RecordedRequest {
        method: head.method.clone(),
        path,
        query,
        headers: head
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect(),
        body,
    };
    let count = {
        let mut state = shared.lock();
        state.requests.push(request.clone());
        state.requests.len()
    };
    shared.received.send_replace(count);
    request
}

/// Strips `scheme://authority` from an absolute-form target.
pub(crate) fn origin_form(target: &str) -> String {
    let Some((_, rest)) = target.split_once("://") else {
        return target.to_owned();
    };
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => format!("/{}", &rest[i..]),
        Some(i) => rest[i..].to_owned(),
        None => "/".to_owned(),
    }
}

async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let path = req.path.as_str();
    let is_models = path == "/v1/models" || path.starts_with("/v1/models/");
    let is_chat = path == "/v1/chat/completions";
    if !is_models && !is_chat {
        let msg = format!("Invalid URL ({} {})", req.method, path);
        return conn.respond_error(shared, &openai_error(404, &msg)).await;
    }
    let wanted_method = if is_chat { "POST" } else { "GET" };
    if req.method != wanted_method {
        let msg = format!("Invalid method for URL ({} {})", req.method, path);
        return conn.respond_error(shared, &openai_error(405, &msg)).await;
    }
    if let Some(denied) = check_key(shared, req) {
        return conn.respond_error(shared, &denied).await;
    }
    if is_chat {
        return chat(conn, shared, req).await;
    }
    let models = shared.lock().models.clone();
    match path.strip_prefix("/v1/models/") {
        None => {
            let body = wire::model_list(&models);
            conn.respond(shared, 200, "application/json", &[], body.as_bytes(), None)
                .await
        }
        Some(id) if models.iter().any(|m| m == id) => {
            let body = wire::model(id);
            conn.respond(shared, 200, "application/json", &[], body.as_bytes(), None)
                .await
        }
        Some(id) => {
            conn.respond_error(shared, &ErrorReply::model_not_found(id))
                .await
        }
    }
}

fn openai_error(status: u16, message: &str) -> ErrorReply {
    ErrorReply::custom(
        status,
        &wire::error_body(message, "invalid_request_error", None, None),
    )
}

fn check_key(shared: &Shared, req: &RecordedRequest) -> Option<ErrorReply> {
    let expected = shared.lock().key.clone()?;
    let provided = req.header("authorization").and_then(|v| {
        let (scheme, key) = v.split_once(' ')?;
        let key = key.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
    });
    match provided {
        None => Some(ErrorReply::missing_api_key()),
        Some(key) if key == expected => None,
        Some(key) => Some(ErrorReply::incorrect_api_key(key)),
    }
}

/// Text of the last message: a string, or the text parts of an array.
fn last_message_text(body: &Value) -> String {
    let content = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("content"));
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// The default reply: `"echo: " + last message`, split after each space.
fn echo(body: &Value) -> Answer {
    let text = format!("echo: {}", last_message_text(body));
    Answer {
        content: text.split_inclusive(' ').map(str::to_owned).collect(),
        ..Answer::default()
    }
}

/// A `chatcmpl-` id of 29 base62-ish characters, unique per server.
fn completion_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ http::unix_now();
    let mut id = String::from("chatcmpl-");
    for _ in 0..29 {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        id.push(char::from(
            ALPHABET[usize::try_from(v >> 58).unwrap_or(0) % ALPHABET.len()],
        ));
    }
    id
}

async fn chat(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let msg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";
            return conn.respond_error(shared, &openai_error(400, msg)).await;
        }
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = stream
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);

    let queued = shared.lock().queue.pop_front();
    let answer = match queued {
        Some(Reply::Error(e)) => return conn.respond_error(shared, &e).await,
        Some(Reply::Answer(a)) => a,
        None => {
            if model.is_empty() {
                let e = openai_error(400, "you must provide a model parameter");
                return conn.respond_error(shared, &e).await;
            }
            if !shared.lock().models.contains(&model) {
                return conn
                    .respond_error(shared, &ErrorReply::model_not_found(&model))
                    .await;
            }
            echo(&body)
        }
    };
    let usage = Usage::new(answer.usage.unwrap_or_else(|| {
        let chars = String::from_utf8_lossy(&req.body).chars().count() / 4;
        let pieces = answer.reasoning.len() + answer.content.len();
        (
            u32::try_from(chars).unwrap_or(u32::MAX),
            u32::try_from(pieces).unwrap_or(u32::MAX),
        )
    }));
    let id = completion_id(shared.next_id());
    let completion = Completion {
        id: &id,
        created: http::unix_now(),
        model: &model,
        include_usage,
    };
    if stream {
        let next = stream_answer(conn, shared, &answer, &completion, usage).await;
        if next == Next::Close {
            // Make the end visible to the client before counting it.
            let _ = conn.stream.shutdown().await;
        }
        shared.stream_ended();
        next
    } else {
        json_answer(conn, shared, &answer, &completion, usage).await
    }
}

async fn json_answer(
    conn: &mut Conn,
    shared: &Shared,
    answer: &Answer,
    c: &Completion<'_>,
    usage: Usage,
) -> Next {
    delay(answer.shape.first_byte_delay_ms).await;
    match answer.shape.end {
        StreamEnd::Cut { .. } => return Next::Close,
        StreamEnd::Hang { .. } if !conn.hang(shared).await => return Next::Close,
        _ => {}
    }
    let reasoning = answer.reasoning.concat();
    let body = c.completion_json(
        &answer.content.concat(),
        (!reasoning.is_empty()).then_some(reasoning.as_str()),
        &answer.finish_reason,
        usage,
    );
    conn.respond(
        shared,
        200,
        "application/json",
        &[],
        body.as_bytes(),
        answer.shape.split_every,
    )
    .await
}

/// Writes SSE events with the answer's line endings, keep-alives, delays
/// and splitting.
struct SseWriter<'a> {
    conn: &'a mut Conn,
    answer: &'a Answer,
    first: bool,
}

impl SseWriter<'_> {
    fn nl(&self) -> &'static str {
        if self.answer.shape.crlf { "\r\n" } else { "\n" }
    }

    async fn unit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn
            .send_pieces(bytes, self.answer.shape.split_every, true)
            .await
    }

    async fn event(&mut self, data: &str) -> io::Result<()> {
        if !self.first {
            delay(self.answer.shape.chunk_delay_ms).await;
        }
        self.first = false;
        let nl = self.nl();
        if self.answer.shape.keepalive_comments {
            self.unit(format!(": keep-alive{nl}{nl}").as_bytes())
                .await?;
        }
        self.unit(format!("data: {data}{nl}{nl}").as_bytes()).await
    }

    async fn terminate(&mut self) -> io::Result<()> {
        self.conn.send(b"0\r\n\r\n").await
    }
}

async fn stream_answer(
    conn: &mut Conn,
    shared: &Shared,
    answer: &Answer,
    c: &Completion<'_>,
    usage: Usage,
) -> Next {
    delay(answer.shape.first_byte_delay_ms).await;
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "text/event-stream; charset=utf-8".to_owned(),
        ),
        ("transfer-encoding".to_owned(), "chunked".to_owned()),
    ];
    headers.extend(conn.base_headers(shared));
    if conn
        .send(&http::response_head(200, &headers))
        .await
        .is_err()
    {
        return Next::Close;
    }
    match write_events(conn, shared, answer, c, usage).await {
        Ok(next) => next,
        Err(_) => Next::Close,
    }
}

async fn write_events(
    conn: &mut Conn,
    shared: &Shared,
    answer: &Answer,
    c: &Completion<'_>,
    usage: Usage,
) -> io::Result<Next> {
    let pieces: Vec<Delta<'_>> = answer
        .reasoning
        .iter()
        .map(|r| Delta {
            content: Some(None),
            reasoning_content: Some(r),
            ..Delta::default()
        })
        .chain(answer.content.iter().map(|t| Delta {
            content: Some(Some(t)),
            ..Delta::default()
        }))
        .collect();
    let stop_at = match answer.shape.end {
        StreamEnd::Cut { after }
        | StreamEnd::Hang { after }
        | StreamEnd::ErrorEvent { after, .. } => Some(after.min(pieces.len())),
        StreamEnd::Done | StreamEnd::NoDone => None,
    };
    let mut w = SseWriter {
        conn,
        answer,
        first: true,
    };
    let role = Delta {
        role: Some("assistant"),
        content: Some(Some("")),
        ..Delta::default()
    };
    w.event(&c.delta_chunk(role, None)).await?;
    let mut pieces = pieces.into_iter();
    for i in 0..=pieces.len() {
        if stop_at == Some(i) {
            match &answer.shape.end {
                StreamEnd::Cut { .. } => return Ok(Next::Close),
                StreamEnd::ErrorEvent { message, .. } => {
                    let body = wire::error_body(message, "server_error", None, None);
                    w.event(&body).await?;
                    w.terminate().await?;
                    return Ok(w.conn.next());
                }
                StreamEnd::Hang { .. } => {
                    if !w.conn.hang(shared).await {
                        return Ok(Next::Close);
                    }
                }
                StreamEnd::Done | StreamEnd::NoDone => {}
            }
        }
        if let Some(delta) = pieces.next() {
            w.event(&c.delta_chunk(delta, None)).await?;
        }
    }
    w.event(&c.delta_chunk(Delta::default(), Some(&answer.finish_reason)))
        .await?;
    if c.include_usage {
        w.event(&c.usage_chunk(usage)).await?;
    }
    if answer.shape.end == StreamEnd::NoDone {
        w.terminate().await?;
        return Ok(Next::Close);
    }
    w.event("[DONE]").await?;
    w.terminate().await?;
    Ok(w.conn.next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_rewrites() {
        assert_eq!(
            origin_form("http://provider.test/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(origin_form("http://provider.test:8080"), "/");
        assert_eq!(origin_form("http://provider.test?a=1"), "/?a=1");
        assert_eq!(origin_form("/v1/models?x"), "/v1/models?x");
    }

    #[test]
    fn echo_splits_after_spaces() {
        let body = serde_json::json!({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "hi there"}]});
        assert_eq!(echo(&body).content, vec!["echo: ", "hi ", "there"]);
        let parts = serde_json::json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]});
        assert_eq!(echo(&parts).content, vec!["echo: ", "a ", "b"]);
    }

    #[test]
    fn completion_ids_look_like_openai() {
        let id = completion_id(1);
        assert!(id.starts_with("chatcmpl-"));
        assert_eq!(id.len(), "chatcmpl-".len() + 29);
        assert_ne!(id, completion_id(2));
    }
}
