//! The outbound client against real loopback servers and proxies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchard_core::egress::{
    BoxFuture, EgressEntry, EgressError, EgressSink, EgressTicket, Purpose,
};
use orchard_net::{HttpClient, Method, NetConfig, NetErrorKind, NoProxy, ProxySettings, Url};
use orchard_testkit::{
    Answer, FakeBadTlsPeer, FakeBlackhole, FakeHttpProxy, FakeProvider, FakeSocks5Proxy,
    FakeTlsServer,
};

/// A ledger kept in memory: `begin` appends a row, `finish` replaces it.
#[derive(Default)]
struct Ledger {
    rows: Mutex<Vec<EgressEntry>>,
    refuse: std::sync::atomic::AtomicBool,
}

impl EgressSink for Ledger {
    fn begin<'a>(
        &'a self,
        entry: &'a EgressEntry,
    ) -> BoxFuture<'a, Result<EgressTicket, EgressError>> {
        Box::pin(async move {
            if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(EgressError("disk full".into()));
            }
            let mut rows = self.rows.lock().unwrap();
            rows.push(entry.clone());
            Ok(EgressTicket(rows.len() as i64 - 1))
        })
    }

    fn finish(&self, ticket: EgressTicket, entry: EgressEntry) {
        self.rows.lock().unwrap()[ticket.0 as usize] = entry;
    }
}

impl Ledger {
    fn entries(&self) -> Vec<EgressEntry> {
        self.rows.lock().unwrap().clone()
    }
}

fn client(cfg: NetConfig) -> (HttpClient, Arc<Ledger>) {
    let ledger = Arc::new(Ledger::default());
    (HttpClient::new(cfg, ledger.clone()).unwrap(), ledger)
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// A model-list request, as a provider adapter would make it.
async fn get(
    http: &HttpClient,
    target: impl AsRef<str>,
    provider: &str,
) -> Result<orchard_net::Response, orchard_net::NetError> {
    http.request(Method::GET, url(target.as_ref()), Purpose::models(provider))
        .send()
        .await
}

/// A streamed chat request to the fake provider.
fn stream_chat(http: &HttpClient, fake: &FakeProvider) -> orchard_net::RequestBuilder {
    http.request(
        Method::POST,
        url(&format!("{}/chat/completions", fake.base_url())),
        Purpose::chat("fake"),
    )
    .json_body(
        br#"{"model":"fake-small","stream":true,"messages":[{"role":"user","content":"x"}]}"#
            .to_vec(),
    )
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn p_l3_ledger_records_host_port_purpose_bytes_and_status_but_no_path_query_or_body() {
    let fake = FakeProvider::start().await;
    let (http, ledger) = client(NetConfig::default());
    let secret_query = "api-version=2024&token=QUERYSECRET";
    let body = br#"{"model":"fake-small","messages":[{"role":"user","content":"CONTENTSECRET"}]}"#
        .to_vec();
    let target = url(&format!(
        "{}/chat/completions?{secret_query}",
        fake.base_url()
    ));
    let resp = http
        .request(Method::POST, target, Purpose::chat("fake"))
        .json_body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let received = resp.bytes(1 << 20).await.unwrap();
    assert!(
        String::from_utf8_lossy(&received).contains("CONTENTSECRET"),
        "the echo came back"
    );

    let entries = ledger.entries();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.host, "127.0.0.1");
    assert_eq!(e.port, fake.addr().port());
    assert_eq!(e.purpose.as_str(), "chat:fake");
    assert_eq!(e.method, "POST");
    assert_eq!(e.bytes_sent, body.len() as u64);
    assert_eq!(e.bytes_received, received.len() as u64);
    assert_eq!(e.status, Some(200));
    assert_eq!(e.outcome, "ok");
    assert_eq!(e.via_proxy, None);
    // Nothing of the URL beyond host and port, and nothing of the content.
    let serialized = serde_json::to_string(e).unwrap();
    for forbidden in [
        "QUERYSECRET",
        "api-version",
        "chat/completions",
        "CONTENTSECRET",
        "/v1",
    ] {
        assert!(
            !serialized.contains(forbidden),
            "{forbidden} leaked into {serialized}"
        );
    }
    // And the request really carried the query string to the server.
    assert_eq!(fake.requests()[0].query.as_deref(), Some(secret_query));
}

#[tokio::test]
async fn p_l3_ledger_records_failures_and_abandoned_streams_once_each() {
    let fake = FakeProvider::start().await;
    let (http, ledger) = client(NetConfig::default());
    let port = closed_port();
    let err = get(&http, format!("http://127.0.0.1:{port}/v1/models"), "down")
        .await
        .unwrap_err();
    assert_eq!(err.kind, NetErrorKind::Connect);

    fake.push(Answer::text(&["a ", "b ", "c"]).hang_after(1));
    let mut resp = stream_chat(&http, &fake).send().await.unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(resp); // the person pressed Stop
    fake.wait_stream_closed(1).await;

    let entries = ledger.entries();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(
        (
            entries[0].outcome.as_str(),
            entries[0].port,
            entries[0].status
        ),
        ("connect", port, None)
    );
    assert_eq!(entries[0].purpose.as_str(), "models:down");
    assert_eq!(entries[1].outcome, "abandoned");
    assert_eq!(entries[1].status, Some(200));
    assert!(entries[1].bytes_received >= first.len() as u64);
}

#[tokio::test]
async fn connection_refused_names_host_and_port() {
    let (http, _) = client(NetConfig::default());
    let port = closed_port();
    let err = get(&http, format!("http://127.0.0.1:{port}/v1/models"), "x")
        .await
        .unwrap_err();
    assert_eq!(err.kind, NetErrorKind::Connect);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("refused"),
        "{msg}"
    );
    assert!(!msg.contains("/v1/models"), "{msg}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_failure() {
    let server = FakeTlsServer::start().await;
    let (http, ledger) = client(NetConfig::default());
    let err = get(
        &http,
        format!("https://localhost:{}/v1/models", server.addr().port()),
        "x",
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, NetErrorKind::Tls, "{err} / {}", err.detail);
    assert!(err.to_string().contains("secure connection (TLS)"), "{err}");
    assert!(
        err.detail.to_lowercase().contains("certificate"),
        "{}",
        err.detail
    );
    assert_eq!(server.handshakes(), 1);
    assert_eq!(ledger.entries()[0].outcome, "tls");
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_failure() {
    let peer = FakeBadTlsPeer::start().await;
    let (http, _) = client(NetConfig::default());
    let err = get(&http, format!("https://{}/v1/models", peer.addr()), "x")
        .await
        .unwrap_err();
    assert_eq!(err.kind, NetErrorKind::Tls, "{err} / {}", err.detail);
}

#[tokio::test]
async fn first_byte_and_idle_timeouts_are_enforced_and_named() {
    let fake = FakeProvider::start().await;
    let cfg = NetConfig {
        first_byte_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(200),
        ..NetConfig::default()
    };
    let (http, ledger) = client(cfg);
    fake.push(Answer::text(&["late"]).first_byte_delay(Duration::from_secs(5)));
    let err = stream_chat(&http, &fake).send().await.unwrap_err();
    assert_eq!(
        err.kind,
        NetErrorKind::FirstByteTimeout(Duration::from_millis(200))
    );
    assert!(
        err.to_string()
            .contains("did not start answering within 200 ms"),
        "{err}"
    );

    fake.push(Answer::text(&["one ", "two"]).chunk_delay(Duration::from_secs(5)));
    let mut resp = stream_chat(&http, &fake).send().await.unwrap();
    let err = loop {
        match resp.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream should have stalled"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        err.kind,
        NetErrorKind::IdleTimeout(Duration::from_millis(200))
    );
    assert!(
        err.to_string().contains("stopped sending for 200 ms"),
        "{err}"
    );
    drop(resp);
    let outcomes: Vec<String> = ledger.entries().into_iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, ["first-byte-timeout", "idle-timeout"]);
}

#[tokio::test]
async fn a_cut_connection_is_reported_as_cut() {
    let fake = FakeProvider::start().await;
    let (http, _) = client(NetConfig::default());
    fake.push(Answer::text(&["a ", "b ", "c"]).cut_after(1));
    let mut resp = stream_chat(&http, &fake).send().await.unwrap();
    let err = loop {
        match resp.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a cut must not look like a clean end"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind, NetErrorKind::Cut, "{err:?}");
}

fn proxied(proxy: &str) -> NetConfig {
    let p: orchard_net::ProxyUrl = proxy.parse().unwrap();
    NetConfig {
        proxy: ProxySettings {
            http: Some(p.clone()),
            https: Some(p),
            no_proxy: NoProxy::default(),
        },
        ..NetConfig::default()
    }
}

#[tokio::test]
async fn requests_go_through_an_http_proxy() {
    let fake = FakeProvider::start().await;
    let proxy = FakeHttpProxy::start(fake.addr()).await;
    let (http, ledger) = client(proxied(&proxy.url()));
    // provider.test does not resolve: only a proxy can have carried this request.
    let resp = get(&http, "http://provider.test/v1/models", "fake")
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.bytes(1 << 20).await.unwrap();
    assert_eq!(proxy.seen(), ["http://provider.test/v1/models"]);
    let e = &ledger.entries()[0];
    assert_eq!((e.host.as_str(), e.port), ("provider.test", 80));
    assert_eq!(
        e.via_proxy.as_deref(),
        Some(proxy.addr().to_string().as_str())
    );
}

#[tokio::test]
async fn requests_go_through_a_socks5_proxy() {
    let fake = FakeProvider::start().await;
    let proxy = FakeSocks5Proxy::start(fake.addr()).await;
    let (http, _) = client(proxied(&proxy.url()));
    let resp = get(&http, "http://provider.test:8080/v1/models", "fake")
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(proxy.seen(), ["provider.test:8080"]);
}

#[tokio::test]
async fn no_proxy_and_loopback_bypass_the_proxy() {
    let fake = FakeProvider::start().await;
    let proxy = FakeHttpProxy::start(fake.addr()).await;
    let (http, _) = client(proxied(&proxy.url()));
    let resp = get(&http, format!("{}/models", fake.base_url()), "fake")
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        proxy.seen().is_empty(),
        "loopback went through the proxy: {:?}",
        proxy.seen()
    );
}

#[tokio::test]
async fn a_proxy_that_is_down_is_named_in_the_error() {
    let port = closed_port();
    let (http, ledger) = client(proxied(&format!("http://user:hunter2@127.0.0.1:{port}")));
    let err = get(&http, "http://provider.test/v1/models", "fake")
        .await
        .unwrap_err();
    assert_eq!(err.kind, NetErrorKind::Proxy, "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("through the proxy 127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
    assert_eq!(ledger.entries()[0].outcome, "proxy");
}

#[tokio::test]
async fn p_l3_a_request_is_in_the_ledger_before_it_leaves_and_not_sent_if_it_cannot_be() {
    let fake = FakeProvider::start().await;
    let (http, ledger) = client(NetConfig::default());
    fake.push(Answer::text(&["a ", "b"]).hang_after(1));
    let resp = stream_chat(&http, &fake).send().await.unwrap();
    // Mid-request, the row is already there (a process killed now still leaves it).
    let row = ledger.entries().pop().unwrap();
    assert_eq!(
        (row.outcome.as_str(), row.purpose.as_str()),
        ("in-flight", "chat:fake")
    );
    drop(resp);

    ledger
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let before = fake.requests().len();
    let err = get(&http, format!("{}/models", fake.base_url()), "fake")
        .await
        .unwrap_err();
    assert_eq!(err.kind, NetErrorKind::NotRecorded);
    assert!(
        err.to_string().starts_with("nothing was sent to 127.0.0.1"),
        "{err}"
    );
    assert_eq!(
        fake.requests().len(),
        before,
        "an unrecorded request must not leave"
    );
}

#[tokio::test]
async fn p_l3_redirects_are_never_followed() {
    let first = FakeProvider::start().await;
    let elsewhere = FakeProvider::start().await;
    first.push(orchard_testkit::ErrorReply::custom(307, "{}").header(
        "location",
        &format!("{}/chat/completions", elsewhere.base_url()),
    ));
    let (http, ledger) = client(NetConfig::default());
    let resp = http
        .request(
            Method::POST,
            url(&format!("{}/chat/completions", first.base_url())),
            Purpose::chat("fake"),
        )
        .json_body(
            br#"{"model":"fake-small","messages":[{"role":"user","content":"private"}]}"#.to_vec(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    drop(resp);
    assert!(
        elsewhere.requests().is_empty(),
        "the conversation went to an unconfigured host"
    );
    assert_eq!(ledger.entries().len(), 1);
}

#[tokio::test]
async fn a_host_that_does_not_accept_connections_hits_the_connect_timeout() {
    let hole = FakeBlackhole::start().await;
    let (http, ledger) = client(NetConfig {
        connect_timeout: Duration::from_millis(200),
        ..NetConfig::default()
    });
    let err = get(&http, format!("http://{}/v1/models", hole.addr()), "x")
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        NetErrorKind::ConnectTimeout(Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!(
            "connecting to {} timed out after 200 ms",
            hole.addr()
        )),
        "{err}"
    );
    assert_eq!(ledger.entries()[0].outcome, "connect-timeout");
}
