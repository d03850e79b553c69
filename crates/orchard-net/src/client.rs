//! [`HttpClient`]: requests with timeouts at every stage and a ledger entry for each.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use orchard_core::Timestamp;
use orchard_core::egress::{EgressEntry, EgressSink, EgressTicket, Purpose};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::error::{NetError, NetErrorKind, classify};
use crate::proxy::ProxySettings;

/// Timeouts and proxy rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Time allowed to open the TCP connection (and the proxy tunnel).
    pub connect_timeout: Duration,
    /// Time from sending the request until the response headers arrive.
    pub first_byte_timeout: Duration,
    /// Longest silence allowed between two pieces of a response body.
    pub idle_timeout: Duration,
    /// Which requests go through which proxy.
    pub proxy: ProxySettings,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            // Reasoning models can think for minutes before the first byte of a
            // non-streamed answer.
            first_byte_timeout: Duration::from_secs(180),
            idle_timeout: Duration::from_secs(120),
            proxy: ProxySettings::default(),
        }
    }
}

/// The one outbound HTTP client. Cheap to clone (shares its connection pool).
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    cfg: Arc<NetConfig>,
    sink: Arc<dyn EgressSink>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client. Every request it makes is reported to `sink`.
    pub fn new(cfg: NetConfig, sink: Arc<dyn EgressSink>) -> Result<Self, NetError> {
        // reqwest is built without a bundled crypto provider so that ring (small, no
        // C++/cmake) is used; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rules = cfg.proxy.clone();
        let inner = reqwest::Client::builder()
            .no_proxy()
            .proxy(reqwest::Proxy::custom(move |url| {
                rules.proxy_for(url).map(|p| p.as_url().clone())
            }))
            // Never follow redirects: a 307 would re-send the conversation to a host the
            // person did not configure, outside the ledger. The caller reports them.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("orchard/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| NetError {
                kind: NetErrorKind::Other,
                host: String::new(),
                port: 0,
                via_proxy: None,
                detail: format!("could not build the HTTP client: {}", e.without_url()),
            })?;
        Ok(Self {
            inner,
            cfg: Arc::new(cfg),
            sink,
        })
    }

    /// The configuration in effect.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Starts a request. `purpose` is what the ledger will say it was for.
    pub fn request(&self, method: Method, url: Url, purpose: Purpose) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            purpose,
        }
    }
}

/// A request being assembled.
#[derive(Debug)]
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    purpose: Purpose,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Adds a header holding a secret (an API key). It is marked sensitive, so it is
    /// redacted from every `Debug` output of the HTTP stack and never logged.
    pub fn secret_header(mut self, name: HeaderName, value: &str) -> Result<Self, NetError> {
        let mut v = HeaderValue::from_str(value).map_err(|_| NetError {
            kind: NetErrorKind::Other,
            host: self.url.host_str().unwrap_or("").to_owned(),
            port: self.url.port_or_known_default().unwrap_or(0),
            via_proxy: None,
            // Deliberately says nothing about the value.
            detail: format!(
                "the value for the {name} header contains characters HTTP does not allow"
            ),
        })?;
        v.set_sensitive(true);
        self.headers.append(name, v);
        Ok(self)
    }

    /// Sets a JSON body.
    pub fn json_body(mut self, body: Vec<u8>) -> Self {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.body = Some(Bytes::from(body));
        self
    }

    /// Sends the request and waits for the response headers (bounded by the first-byte
    /// timeout). Failures are recorded in the ledger before they are returned.
    pub async fn send(self) -> Result<Response, NetError> {
        let RequestBuilder {
            client,
            method,
            url,
            headers,
            body,
            purpose,
        } = self;
        let host = url
            .host_str()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(0);
        let via_proxy = client.cfg.proxy.proxy_for(&url).map(|p| p.authority());
        let bytes_sent = body.as_ref().map_or(0, |b| b.len() as u64);
        let entry = EgressEntry {
            at: Timestamp::now(),
            host: host.clone(),
            port,
            purpose: purpose.clone(),
            method: method.to_string(),
            bytes_sent,
            bytes_received: 0,
            status: None,
            outcome: "in-flight".to_owned(),
            via_proxy: via_proxy.clone(),
            duration_ms: 0,
        };
        // Write-ahead: the row exists before anything leaves, or nothing leaves.
        let ticket = client.sink.begin(&entry).await.map_err(|e| NetError {
            kind: NetErrorKind::NotRecorded,
            host: host.clone(),
            port,
            via_proxy: via_proxy.clone(),
            detail: e.0,
        })?;
        let mut guard = LedgerGuard::new(client.sink.clone(), ticket, entry);
        tracing::debug!(%method, %host, port, purpose = purpose.as_str(), bytes_sent, via_proxy = ?via_proxy, "outbound request");

        let mut req = client.inner.request(method, url).headers(headers);
        if let Some(b) = body {
            req = req.body(b);
        }
        let make_err = |kind: NetErrorKind, detail: String| NetError {
            kind,
            host: host.clone(),
            port,
            via_proxy: via_proxy.clone(),
            detail,
        };
        let first_byte = client.cfg.first_byte_timeout;
        let resp = match tokio::time::timeout(first_byte, req.send()).await {
            Err(_) => {
                let e = make_err(
                    NetErrorKind::FirstByteTimeout(first_byte),
                    "no response headers".into(),
                );
                guard.fail(&e.kind);
                return Err(e);
            }
            Ok(Err(err)) => {
                let (kind, detail) =
                    classify(&err, via_proxy.is_some(), client.cfg.connect_timeout);
                let e = make_err(kind, detail);
                tracing::debug!(error = %e, "outbound request failed");
                guard.fail(&e.kind);
                return Err(e);
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        guard.entry.status = Some(status.as_u16());
        tracing::debug!(%host, status = status.as_u16(), "response headers");
        Ok(Response {
            status,
            headers: resp.headers().clone(),
            body: Box::pin(resp.bytes_stream()),
            guard,
            idle: client.cfg.idle_timeout,
            host,
            port,
            via_proxy,
            connect_timeout: client.cfg.connect_timeout,
        })
    }
}

type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A response whose body is read piece by piece, each piece bounded by the idle timeout.
/// Dropping it early (for example when the person presses Stop) closes the connection,
/// which is how a provider learns to stop generating, and still records the ledger entry.
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: BodyStream,
    guard: LedgerGuard,
    idle: Duration,
    host: String,
    port: u16,
    via_proxy: Option<String>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The host that answered (as asked for).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The next piece of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, NetError> {
        match tokio::time::timeout(self.idle, self.body.next()).await {
            Err(_) => Err(self.fail(NetErrorKind::IdleTimeout(self.idle), "no data".into())),
            Ok(None) => {
                self.guard.succeed();
                Ok(None)
            }
            Ok(Some(Ok(bytes))) => {
                self.guard.entry.bytes_received += bytes.len() as u64;
                Ok(Some(bytes))
            }
            Ok(Some(Err(err))) => {
                let (kind, detail) = classify(&err, self.via_proxy.is_some(), self.connect_timeout);
                // Any failure while reading the body means the body is incomplete.
                let kind = match kind {
                    NetErrorKind::Other | NetErrorKind::Connect => NetErrorKind::Cut,
                    k => k,
                };
                Err(self.fail(kind, detail))
            }
        }
    }

    /// The whole body, refusing more than `limit` bytes.
    pub async fn bytes(mut self, limit: u64) -> Result<Bytes, NetError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(self.fail(NetErrorKind::TooLarge(limit), "body too large".into()));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    fn fail(&mut self, kind: NetErrorKind, detail: String) -> NetError {
        self.guard.fail(&kind);
        NetError {
            kind,
            host: self.host.clone(),
            port: self.port,
            via_proxy: self.via_proxy.clone(),
            detail,
        }
    }
}

/// Owns the ledger entry of one request and records its end exactly once, on drop,
/// whatever path the request took.
struct LedgerGuard {
    sink: Arc<dyn EgressSink>,
    ticket: EgressTicket,
    entry: EgressEntry,
    started: Instant,
    settled: bool,
}

impl LedgerGuard {
    fn new(sink: Arc<dyn EgressSink>, ticket: EgressTicket, mut entry: EgressEntry) -> Self {
        // Until it is settled otherwise, a request that ends here was dropped unread.
        entry.outcome = "abandoned".to_owned();
        Self {
            sink,
            ticket,
            entry,
            started: Instant::now(),
            settled: false,
        }
    }

    fn succeed(&mut self) {
        if !self.settled {
            self.entry.outcome = "ok".to_owned();
            self.settled = true;
        }
    }

    fn fail(&mut self, kind: &NetErrorKind) {
        if !self.settled {
            self.entry.outcome = kind.ledger_outcome().to_owned();
            self.settled = true;
        }
    }
}

impl Drop for LedgerGuard {
    fn drop(&mut self) {
        self.entry.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.sink.finish(self.ticket, self.entry.clone());
    }
}
