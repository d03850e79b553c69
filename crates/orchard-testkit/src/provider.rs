//! The fake model provider: a hand-written HTTP/1.1 server, its state,
//! and what all protocols share (routing, key checks, the reply queue).

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

use crate::errors::{self, ErrCtx, Rendered};
use crate::http::{self, Head};
use crate::proto::Protocol;
use crate::reply::{Answer, ErrorKind, ErrorReply, Reply};
use crate::rerank::RerankFormat;
use crate::{anthropic, gemini, ollama, openai, rerank};

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

pub(crate) struct State {
    /// Keys accepted; `None` accepts any key (or none).
    accepted: Option<Vec<String>>,
    /// Keys answered with the protocol's invalid-key error.
    rejected: Vec<String>,
    /// Keys answered with the protocol's rate-limit error, and its delay.
    limited: Vec<(String, u64)>,
    pub(crate) models: Vec<String>,
    pub(crate) queue: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    pub(crate) embedding_dims: usize,
    pub(crate) max_batch: usize,
    /// Embedding requests answered before the rest hang (never answered).
    pub(crate) embeddings_before_hang: Option<usize>,
    max_page: usize,
    pub(crate) rerank_format: RerankFormat,
}

pub(crate) struct Shared {
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
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn stream_ended(&self) {
        self.closed.send_modify(|n| *n += 1);
    }

    /// The models every list shows.
    pub(crate) fn models(&self) -> Vec<String> {
        self.lock().models.clone()
    }

    /// One page of the model list: at most `asked` models (or `default`),
    /// never more than the fake's page limit, from index `start`. Returns
    /// the page and whether more follow.
    pub(crate) fn model_page(
        &self,
        asked: Option<usize>,
        default: usize,
        start: usize,
    ) -> (Vec<String>, bool) {
        let state = self.lock();
        let size = asked.unwrap_or(default).clamp(1, state.max_page);
        let start = start.min(state.models.len());
        let end = (start + size).min(state.models.len());
        (state.models[start..end].to_vec(), end < state.models.len())
    }

    /// Whether `requested` names a listed model, the way `proto` matches
    /// names (Gemini ignores a `models/` prefix; Ollama treats a missing
    /// tag as `:latest`).
    pub(crate) fn knows_model(&self, proto: Protocol, requested: &str) -> bool {
        let norm = |m: &str| -> String {
            match proto {
                Protocol::Gemini => m.strip_prefix("models/").unwrap_or(m).to_owned(),
                Protocol::Ollama if !m.contains(':') => format!("{m}:latest"),
                _ => m.to_owned(),
            }
        };
        let wanted = norm(requested);
        self.lock().models.iter().any(|m| norm(m) == wanted)
    }

    /// The error, if any, `req`'s API key gets (read the way `proto` sends
    /// it). Ollama checks keys only once `accept_keys` (or `require_key`)
    /// was called.
    pub(crate) fn key_error(&self, proto: Protocol, req: &RecordedRequest) -> Option<ErrorReply> {
        let state = self.lock();
        if proto == Protocol::Ollama && state.accepted.is_none() {
            return None;
        }
        let key = proto.key(req);
        let invalid =
            |k: &str| ErrorReply::of_kind(ErrorKind::InvalidApiKey { key: k.to_owned() }, 401);
        if let Some(k) = &key {
            if state.rejected.contains(k) {
                return Some(invalid(k));
            }
            if let Some((_, secs)) = state.limited.iter().find(|(l, _)| l == k) {
                return Some(ErrorReply::rate_limited(*secs));
            }
        }
        let accepted = state.accepted.as_ref()?;
        match key {
            None => Some(ErrorReply::of_kind(ErrorKind::MissingApiKey, 401)),
            Some(k) if accepted.contains(&k) => None,
            Some(k) => Some(invalid(&k)),
        }
    }

    /// Whether this embedding request is one to leave unanswered (counts it).
    pub(crate) fn embedding_hangs(&self) -> bool {
        let mut state = self.lock();
        match state.embeddings_before_hang {
            Some(0) => true,
            Some(n) => {
                state.embeddings_before_hang = Some(n - 1);
                false
            }
            None => false,
        }
    }

    /// Pops the next queued reply if it is an error (embedding requests
    /// take errors from the queue but leave answers for generations).
    pub(crate) fn pop_error(&self) -> Option<ErrorReply> {
        let mut state = self.lock();
        if !matches!(state.queue.front(), Some(Reply::Error(_))) {
            return None;
        }
        match state.queue.pop_front() {
            Some(Reply::Error(e)) => Some(e),
            _ => None,
        }
    }
}

/// A scriptable fake model provider on loopback that speaks every protocol
/// at once, chosen by request path: OpenAI (Chat Completions, Responses,
/// embeddings, models), Anthropic Messages, Gemini, Ollama and Azure
/// OpenAI.
///
/// Hand-written HTTP/1.1, so tests control every byte. The server (and
/// every connection it holds) stops when this value is dropped.
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
                accepted: None,
                rejected: Vec::new(),
                limited: Vec::new(),
                models: vec!["fake-small".to_owned(), "fake-large".to_owned()],
                queue: VecDeque::new(),
                requests: Vec::new(),
                embedding_dims: 8,
                max_batch: 16,
                embeddings_before_hang: None,
                max_page: 1000,
                rerank_format: RerankFormat::default(),
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

    /// `http://ADDR/v1`, what an OpenAI (or Anthropic) client takes as its
    /// base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR`, the root the other protocols hang off: Gemini
    /// `ROOT/v1beta`, Ollama `ROOT` (`/api/...`), Azure endpoint `ROOT`
    /// (`/openai/...`), Anthropic `ROOT` (`/v1/messages`).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, requests must carry exactly this key (each protocol in
    /// its own header); same as `accept_keys(&[key])`.
    pub fn require_key(&self, key: &str) {
        self.accept_keys(&[key]);
    }

    /// From now on, requests must carry one of these keys: `Authorization:
    /// Bearer` (OpenAI, and Ollama, which otherwise ignores keys),
    /// `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini),
    /// `api-key` (Azure). Others get the protocol's invalid-key or
    /// missing-key error. Replaces earlier accepted keys.
    pub fn accept_keys(&self, keys: &[&str]) {
        self.shared.lock().accepted = Some(keys.iter().map(|k| (*k).to_owned()).collect());
    }

    /// Requests with this key get the protocol's invalid-key error (401, or
    /// Gemini's 400 `API_KEY_INVALID`), whatever else is accepted.
    pub fn reject_key(&self, key: &str) {
        self.shared.lock().rejected.push(key.to_owned());
    }

    /// Every request with this key gets the protocol's rate-limit error
    /// (429) with this retry delay.
    pub fn rate_limit_key(&self, key: &str, retry_after_secs: u64) {
        let mut state = self.shared.lock();
        state.limited.retain(|(k, _)| k != key);
        state.limited.push((key.to_owned(), retry_after_secs));
    }

    /// Sets the models every protocol lists (`GET /v1/models`, Anthropic's
    /// models, Gemini's `models/ID`, Ollama's tags, Azure's v1 models), ids
    /// as given, and that generation requests may name when no reply is
    /// queued (Ollama treats `x` and `x:latest` as the same model).
    /// Embedding requests accept any model name.
    pub fn set_models(&self, ids: &[&str]) {
        self.shared.lock().models = ids.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Dimensions of embedding vectors when the request does not ask for
    /// any (default 8). See [`fake_embedding`](crate::fake_embedding).
    pub fn set_embedding_dims(&self, dims: usize) {
        self.shared.lock().embedding_dims = dims;
    }

    /// Most inputs one embedding request may carry (default 16); more get
    /// the protocol's 400 error, so tests can prove a client batches.
    pub fn set_max_batch(&self, max: usize) {
        self.shared.lock().max_batch = max;
    }

    /// Answers `n` more OpenAI embedding requests, then holds every later one
    /// without an answer (the connection stays open) until [`FakeProvider::release`]
    /// or until the client goes away, as a provider that stops responding would;
    /// `None` answers new ones again. For killing a client mid-ingestion at a known
    /// point.
    pub fn hang_embeddings_after(&self, n: Option<usize>) {
        self.shared.lock().embeddings_before_hang = n;
    }

    /// Which rerank API `POST /v1/rerank` and `POST /v2/rerank` imitate
    /// (default [`RerankFormat::Jina`]): the count parameter they take
    /// (`top_n`, or Voyage's `top_k`; the other one is refused), the answer's
    /// shape and the error bodies. Scores are
    /// [`fake_relevance`](crate::fake_relevance); any model name is accepted.
    pub fn set_rerank_format(&self, format: RerankFormat) {
        self.shared.lock().rerank_format = format;
    }

    /// Most models one page of a paginated model list holds (default 1000,
    /// the real APIs' limit; Anthropic's and Gemini's lists are paginated),
    /// so tests can prove a client follows pages.
    pub fn set_max_page(&self, max: usize) {
        self.shared.lock().max_page = max;
    }

    /// Queues a reply; each generation request (any protocol) pops one
    /// (FIFO). With the queue empty, a generation echoes its last message
    /// (`"echo: " + text`, split after each space) for a known model, or
    /// answers the protocol's model-not-found error. Embedding requests pop
    /// a queued error (e.g. [`ErrorReply::model_not_found`]) but leave a
    /// queued answer in place.
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

    /// Lets every stream held by [`StreamEnd::Hang`](crate::StreamEnd::Hang)
    /// finish normally, now and for streams that reach their hang point
    /// later.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Resolves once `n` streamed responses in total (any protocol) have
    /// ended (finished, cut, errored, or the client went away).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The client asked to close after this exchange.
    close: bool,
    /// Numbers the current response (request ids).
    pub(crate) n: u64,
}

impl Conn {
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    pub(crate) async fn send_head(
        &mut self,
        status: u16,
        headers: &[(String, String)],
    ) -> io::Result<()> {
        self.send(&http::response_head(status, headers)).await
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Writes `bytes`, split into `split`-sized writes if asked, each flushed
    /// and followed by a yield. `chunked` frames each piece as an HTTP chunk.
    pub(crate) async fn send_pieces(
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
    pub(crate) async fn hang(&mut self, shared: &Shared) -> bool {
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

    /// Standard response headers of `proto`, then `connection`.
    pub(crate) fn base_headers(&self, proto: Protocol) -> Vec<(String, String)> {
        let mut headers = proto.base_headers(self.n);
        headers.push((
            "connection".to_owned(),
            if self.close { "close" } else { "keep-alive" }.to_owned(),
        ));
        headers
    }

    pub(crate) fn next(&self) -> Next {
        if self.close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// The error context of the current request in `proto`.
    pub(crate) fn ctx(&self, proto: Protocol) -> ErrCtx {
        ErrCtx::new(proto, self.n)
    }

    /// A complete response with a `content-length` body.
    pub(crate) async fn respond(
        &mut self,
        proto: Protocol,
        status: u16,
        content_type: &str,
        extra: &[(String, String)],
        body: &[u8],
        split: Option<usize>,
    ) -> Next {
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        headers.extend(self.base_headers(proto));
        headers.extend(extra.iter().cloned());
        headers.push(("content-length".to_owned(), body.len().to_string()));
        if self.send_head(status, &headers).await.is_err() {
            return Next::Close;
        }
        match self.send_pieces(body, split, false).await {
            Ok(()) => self.next(),
            Err(_) => Next::Close,
        }
    }

    /// A 200 JSON body in `proto`'s content type.
    pub(crate) async fn respond_json(&mut self, proto: Protocol, body: &str) -> Next {
        self.respond(proto, 200, proto.json_type(), &[], body.as_bytes(), None)
            .await
    }

    /// A rendered error.
    pub(crate) async fn respond_rendered(&mut self, proto: Protocol, r: &Rendered) -> Next {
        self.respond(
            proto,
            r.status,
            &r.content_type,
            &r.headers,
            r.body.as_bytes(),
            None,
        )
        .await
    }

    /// A scripted error as `ctx.proto` sends it.
    pub(crate) async fn respond_error(&mut self, ctx: &ErrCtx, reply: &ErrorReply) -> Next {
        delay(reply.first_byte_delay_ms).await;
        let r = errors::render(reply, ctx);
        self.respond_rendered(ctx.proto, &r).await
    }
}

pub(crate) async fn delay(ms: u64) {
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
        n: 0,
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
        conn.n = shared.next_id();
        let request = record(&shared, &head, body.decoded);
        if route(&mut conn, &shared, &request).await == Next::Close {
            conn.shutdown().await;
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

/// Whether a request to a path both OpenAI and Anthropic serve
/// (`/v1/models`) is an Anthropic one: it carries `anthropic-version`, or
/// `x-api-key` without a bearer token.
fn is_anthropic(req: &RecordedRequest) -> bool {
    req.header("anthropic-version").is_some()
        || (req.header("x-api-key").is_some() && req.header("authorization").is_none())
}

async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let path = req.path.as_str();
    if path == "/" || path.starts_with("/api/") {
        return ollama::route(conn, shared, req).await;
    }
    if path.starts_with("/openai/") {
        return openai::azure_route(conn, shared, req).await;
    }
    if path.starts_with("/v1beta/") || (path.starts_with("/v1/models/") && path.contains(':')) {
        return gemini::route(conn, shared, req).await;
    }
    if path == "/v1/rerank" || path == "/v2/rerank" {
        return rerank::route(conn, shared, req).await;
    }
    let is_models = path == "/v1/models" || path.starts_with("/v1/models/");
    if path == "/v1/messages" || (is_models && is_anthropic(req)) {
        return anthropic::route(conn, shared, req).await;
    }
    openai::route(conn, shared, req).await
}

/// The request body as a JSON object, if it is one.
pub(crate) fn json_object(req: &RecordedRequest) -> Option<Value> {
    match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Text of a message `content`: a string, or the text parts of an array
/// (`{"type": "text"|"input_text", "text": ...}`, Gemini `{"text": ...}`).
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Text of the last message of a `messages` array.
pub(crate) fn last_message_text(body: &Value) -> String {
    content_text(
        body.get("messages")
            .and_then(Value::as_array)
            .and_then(|m| m.last())
            .and_then(|m| m.get("content")),
    )
}

/// The default reply: `"echo: " + text`, split after each space.
pub(crate) fn echo(text: &str) -> Answer {
    let text = format!("echo: {text}");
    Answer {
        content: text.split_inclusive(' ').map(str::to_owned).collect(),
        ..Answer::default()
    }
}

/// The answer to a generation request: the next queued reply (an error is
/// sent at once, `Err` carrying what to do next), else for a known model
/// the echo of `echo_text()`. An empty `model` gets `missing_model`, if
/// given, and an unknown one the protocol's model-not-found error.
pub(crate) async fn next_answer(
    conn: &mut Conn,
    shared: &Shared,
    ctx: &ErrCtx,
    model: &str,
    missing_model: Option<Rendered>,
    echo_text: impl FnOnce() -> String,
) -> Result<Answer, Next> {
    let queued = shared.lock().queue.pop_front();
    match queued {
        Some(Reply::Error(e)) => Err(conn.respond_error(ctx, &e).await),
        Some(Reply::Answer(a)) => Ok(a),
        None => {
            if model.is_empty()
                && let Some(r) = missing_model
            {
                return Err(conn.respond_rendered(ctx.proto, &r).await);
            }
            if !shared.knows_model(ctx.proto, model) {
                let e = ErrorReply::model_not_found(model);
                return Err(conn.respond_error(ctx, &e).await);
            }
            Ok(echo(&echo_text()))
        }
    }
}

/// Sends `req`'s key error, if it has one.
pub(crate) async fn deny(
    conn: &mut Conn,
    shared: &Shared,
    ctx: &ErrCtx,
    req: &RecordedRequest,
) -> Option<Next> {
    let denied = shared.key_error(ctx.proto, req)?;
    Some(conn.respond_error(ctx, &denied).await)
}

/// Texts to embed: a string or an array of strings (arrays of token ids
/// are embedded from their JSON text).
pub(crate) fn embedding_inputs(input: Option<&Value>) -> Option<Vec<String>> {
    match input? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => Some(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        _ => None,
    }
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
        assert_eq!(
            echo(&last_message_text(&body)).content,
            vec!["echo: ", "hi ", "there"]
        );
        let parts = serde_json::json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]});
        assert_eq!(
            echo(&last_message_text(&parts)).content,
            vec!["echo: ", "a ", "b"]
        );
    }

    #[test]
    fn embedding_inputs_accept_strings_and_arrays() {
        let v = serde_json::json!({"a": "x", "b": ["y", "z"], "c": [], "d": 3, "e": [[1, 2]]});
        assert_eq!(embedding_inputs(v.get("a")), Some(vec!["x".to_owned()]));
        assert_eq!(embedding_inputs(v.get("b")).map(|v| v.len()), Some(2));
        assert_eq!(embedding_inputs(v.get("c")), None);
        assert_eq!(embedding_inputs(v.get("d")), None);
        assert_eq!(embedding_inputs(v.get("e")), Some(vec!["[1,2]".to_owned()]));
    }
}
