//! [`HttpClient`]: requests with timeouts at every stage and a ledger entry for each.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use orchard_core::Timestamp;
use orchard_core::egress::{EgressEntry, EgressSink, EgressTicket, Purpose};
use reqwest::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName,
    HeaderValue, LOCATION, PROXY_AUTHORIZATION,
};
use reqwest::{Method, StatusCode};
use url::{Host, Url};

use crate::error::{NetError, NetErrorKind, RedirectIssue, classify};
use crate::guard::{FetchPolicy, GuardResolver, MAX_REDIRECTS};
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
///
/// Two flavours share this type:
///
/// - [`HttpClient::new`]: for the endpoints the person configured (providers). It never
///   follows a redirect.
/// - [`HttpClient::fetcher`]: for addresses a person hands Orchard to fetch (a
///   knowledge-base page or sitemap, a model download), guarded against reaching
///   private or local addresses (see [`FetchPolicy`]), and following up to
///   [`MAX_REDIRECTS`] redirects, each checked and recorded in the ledger as its own
///   request.
#[derive(Clone)]
pub struct HttpClient {
    /// For a guarded client: the client for direct connections (its resolver filters).
    inner: reqwest::Client,
    cfg: Arc<NetConfig>,
    sink: Arc<dyn EgressSink>,
    guard: Option<Arc<Guard>>,
}

/// What a guarded client adds.
struct Guard {
    policy: FetchPolicy,
    /// The client for requests that go through a proxy. Its resolver resolves only the
    /// proxies' own names (without filtering: the person chose them) and, for a
    /// `socks5://` proxy, the target's name (filtered); target names behind an HTTP or
    /// `socks5h://` proxy are resolved by the proxy.
    proxied: reqwest::Client,
}

/// Which reqwest client to build.
enum Flavour {
    /// Proxies as configured, system DNS, no redirects.
    Plain,
    /// No proxy; names resolved through the guard.
    GuardedDirect(GuardResolver),
    /// Proxies as configured; names resolved through the guard.
    GuardedProxied(GuardResolver),
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
        let inner = build(&cfg, Flavour::Plain)?;
        Ok(Self {
            inner,
            cfg: Arc::new(cfg),
            sink,
            guard: None,
        })
    }

    /// A client for fetching addresses a person gave Orchard (knowledge-base pages and
    /// sitemaps, model downloads), with the same timeouts, proxies and egress ledger as
    /// this one, guarded by `policy`:
    ///
    /// - a URL or redirect naming a private or local address literally
    ///   (`http://127.0.0.1/`, `http://[::ffff:7f00:1]/`, `http://169.254.169.254/`) is
    ///   refused before anything is sent;
    /// - a host name is resolved at connect time and only its public addresses are
    ///   connected to; a name with none (`localhost`, or a public name pointing at
    ///   `10.0.0.1`) is refused;
    /// - redirects (301, 302, 303, 307, 308) are followed, to `http` and `https` only,
    ///   at most [`MAX_REDIRECTS`] in a row, each hop checked as above and recorded in
    ///   the egress ledger as its own request. Going to another origin drops the
    ///   `Authorization`, `Cookie` and `Proxy-Authorization` headers and every header
    ///   added with [`RequestBuilder::secret_header`]; a 303 (and a 301 or 302 after a
    ///   POST) continues as a GET without a body.
    ///
    /// Refusals are [`NetErrorKind::Forbidden`].
    ///
    /// **Through a proxy**, the proxy resolves host names (HTTP proxies and
    /// `socks5h://`), so what a name points to cannot be checked here: a name that
    /// resolves inside the proxy's network is the proxy's to refuse. Literal addresses
    /// and every redirect are still checked, and hosts that bypass the proxy (`NO_PROXY`,
    /// loopback names) are resolved and filtered here. With a `socks5://` proxy, names
    /// are resolved here and filtered as for direct connections.
    pub fn fetcher(&self, policy: FetchPolicy) -> Result<HttpClient, NetError> {
        let cfg = self.cfg.as_ref().clone();
        let direct = GuardResolver {
            allow_local: policy.allow_local_hosts,
            trusted: Vec::new(),
        };
        let proxied = GuardResolver {
            allow_local: policy.allow_local_hosts,
            trusted: [&cfg.proxy.http, &cfg.proxy.https]
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_url().host_str())
                .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
                .collect(),
        };
        let inner = build(&cfg, Flavour::GuardedDirect(direct))?;
        let proxied = build(&cfg, Flavour::GuardedProxied(proxied))?;
        Ok(Self {
            inner,
            cfg: Arc::new(cfg),
            sink: self.sink.clone(),
            guard: Some(Arc::new(Guard { policy, proxied })),
        })
    }

    /// The guard's policy, for a client made by [`HttpClient::fetcher`].
    pub fn fetch_policy(&self) -> Option<&FetchPolicy> {
        self.guard.as_deref().map(|g| &g.policy)
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

/// Builds one reqwest client for `flavour`.
fn build(cfg: &NetConfig, flavour: Flavour) -> Result<reqwest::Client, NetError> {
    // reqwest is built without a bundled crypto provider so that ring (small, no
    // C++/cmake) is used; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rules = cfg.proxy.clone();
    let with_proxies = |b: reqwest::ClientBuilder| {
        b.proxy(reqwest::Proxy::custom(move |url| {
            rules.proxy_for(url).map(|p| p.as_url().clone())
        }))
    };
    let mut builder = reqwest::Client::builder().no_proxy();
    builder = match flavour {
        Flavour::Plain => with_proxies(builder),
        Flavour::GuardedDirect(resolver) => builder.dns_resolver(resolver),
        Flavour::GuardedProxied(resolver) => with_proxies(builder).dns_resolver(resolver),
    };
    builder
        // Never follow redirects here: a 307 would re-send the conversation to a host
        // the person did not configure, outside the ledger. The caller reports them;
        // guarded fetches follow them in `RequestBuilder::send`, one ledger row a hop.
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
        })
}

/// A request being assembled.
#[derive(Debug, Clone)]
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
    ///
    /// For a client made by [`HttpClient::fetcher`], the request is checked against its
    /// [`FetchPolicy`] first, and redirects are followed (see there).
    pub async fn send(self) -> Result<Response, NetError> {
        match self.client.guard.clone() {
            None => self.send_once().await,
            Some(guard) => self.send_guarded(&guard.policy).await,
        }
    }

    /// Follows redirects, checking every hop.
    async fn send_guarded(self, policy: &FetchPolicy) -> Result<Response, NetError> {
        let mut req = self;
        let mut from: Option<String> = None;
        let mut followed = 0;
        loop {
            req.check(policy, from.as_deref())?;
            let next = req.clone();
            let resp = req.send_once().await.map_err(|mut e| {
                if let NetErrorKind::Forbidden {
                    redirected_from, ..
                } = &mut e.kind
                {
                    *redirected_from = from.as_deref().map(Box::from);
                }
                e
            })?;
            let status = resp.status();
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            // A redirect without a Location is an answer like any other.
            let Some(location) = resp.headers().get(LOCATION).cloned() else {
                return Ok(resp);
            };
            let here = next.url.clone();
            let redirect_error = |issue: RedirectIssue| NetError {
                kind: NetErrorKind::Redirect(issue),
                host: host_of(&here),
                port: here.port_or_known_default().unwrap_or(0),
                via_proxy: None,
                detail: "redirect not followed".into(),
            };
            let target = location
                .to_str()
                .ok()
                .and_then(|l| here.join(l.trim()).ok())
                .ok_or_else(|| redirect_error(RedirectIssue::BadLocation))?;
            if !matches!(target.scheme(), "http" | "https") {
                return Err(redirect_error(RedirectIssue::Scheme(
                    target.scheme().to_owned(),
                )));
            }
            if followed == MAX_REDIRECTS {
                return Err(redirect_error(RedirectIssue::TooMany(MAX_REDIRECTS)));
            }
            resp.discard().await;
            followed += 1;
            tracing::debug!(from = %host_of(&here), to = %host_of(&target), status = status.as_u16(), "following a redirect");
            from = Some(host_of(&here));
            req = next.redirected(status, target);
        }
    }

    /// The guard's checks that need no network: the scheme, and a literal address.
    fn check(&self, policy: &FetchPolicy, redirected_from: Option<&str>) -> Result<(), NetError> {
        let url = &self.url;
        let port = url.port_or_known_default().unwrap_or(0);
        let fail = |kind: NetErrorKind, detail: &str| NetError {
            kind,
            host: host_of(url),
            port,
            via_proxy: None,
            detail: detail.to_owned(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail(
                NetErrorKind::Other,
                "only http and https addresses can be fetched",
            ));
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err(fail(NetErrorKind::Other, "the address has no host")),
        };
        match policy.refuses(std::net::SocketAddr::new(ip, port)) {
            None => Ok(()),
            Some(class) => {
                tracing::debug!(%ip, port, "refused a private or local address");
                Err(fail(
                    NetErrorKind::Forbidden {
                        ip,
                        class,
                        redirected_from: redirected_from.map(Box::from),
                    },
                    "private or local address",
                ))
            }
        }
    }

    /// The request to send after a `status` redirect to `to`.
    fn redirected(mut self, status: StatusCode, to: Url) -> Self {
        if self.url.origin() != to.origin() {
            // Credentials were meant for the origin asked, not for wherever it points.
            let mut kept = HeaderMap::with_capacity(self.headers.len());
            for (name, value) in &self.headers {
                let credential = name == AUTHORIZATION
                    || name == COOKIE
                    || name == PROXY_AUTHORIZATION
                    || value.is_sensitive();
                if !credential {
                    kept.append(name.clone(), value.clone());
                }
            }
            self.headers = kept;
        }
        let to_get = match status.as_u16() {
            303 => self.method != Method::HEAD,
            301 | 302 => self.method == Method::POST,
            _ => false,
        };
        if to_get {
            self.method = Method::GET;
            self.body = None;
            for name in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING] {
                self.headers.remove(name);
            }
        }
        self.url = to;
        self
    }

    /// Sends exactly this request, once.
    async fn send_once(self) -> Result<Response, NetError> {
        let RequestBuilder {
            client,
            method,
            url,
            headers,
            body,
            purpose,
        } = self;
        let host = host_of(&url);
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

        // A guarded client sends proxied requests through its proxy-aware client.
        let http = match (&client.guard, &via_proxy) {
            (Some(guard), Some(_)) => &guard.proxied,
            _ => &client.inner,
        };
        let mut req = http.request(method, url).headers(headers);
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

/// The host of `url` as the ledger and messages show it (IPv6 without brackets).
fn host_of(url: &Url) -> String {
    url.host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_owned()
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

    /// Reads and drops a redirect's body, so the hop ends `ok` in the ledger and its
    /// connection can be reused; a body over 64 KiB is dropped unread instead.
    async fn discard(mut self) {
        let mut read = 0;
        while let Ok(Some(chunk)) = self.chunk().await {
            read += chunk.len();
            if read > 64 * 1024 {
                return;
            }
        }
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
