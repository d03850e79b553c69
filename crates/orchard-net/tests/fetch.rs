//! Guarded fetches (`HttpClient::fetcher`) against real loopback servers: private and
//! local addresses are refused in the URL, in every redirect and after DNS, and the
//! refused address is never contacted.
//!
//! Every test server listens on 127.0.0.1, which the guard refuses; the servers a test
//! means to reach are named in `FetchPolicy::exempt`, and the ones it must not reach
//! are `FakeTripwire`s, which prove no connection arrived.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use orchard_core::egress::{
    BoxFuture, EgressEntry, EgressError, EgressSink, EgressTicket, Purpose,
};
use orchard_net::header::{AUTHORIZATION, HeaderName, HeaderValue};
use orchard_net::{
    AddressClass, FetchPolicy, HttpClient, MAX_REDIRECTS, Method, NetConfig, NetError,
    NetErrorKind, NoProxy, ProxySettings, RedirectIssue, Response, Url,
};
use orchard_testkit::{FakeHttpProxy, FakeSite, FakeTripwire};

/// A ledger kept in memory: `begin` appends a row, `finish` replaces it.
#[derive(Default)]
struct Ledger {
    rows: Mutex<Vec<EgressEntry>>,
}

impl EgressSink for Ledger {
    fn begin<'a>(
        &'a self,
        entry: &'a EgressEntry,
    ) -> BoxFuture<'a, Result<EgressTicket, EgressError>> {
        Box::pin(async move {
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

/// Timeouts short enough that a guard that let a request through to a tripwire (which
/// never answers) fails the test quickly instead of after the default three minutes.
fn cfg() -> NetConfig {
    NetConfig {
        first_byte_timeout: std::time::Duration::from_secs(5),
        ..NetConfig::default()
    }
}

/// A guarded fetcher under `policy`, and its ledger.
fn fetcher(cfg: NetConfig, policy: FetchPolicy) -> (HttpClient, Arc<Ledger>) {
    let ledger = Arc::new(Ledger::default());
    let http = HttpClient::new(cfg, ledger.clone()).unwrap();
    (http.fetcher(policy).unwrap(), ledger)
}

/// Trusts exactly `addrs` (the test's own servers), nothing else local.
fn exempting(addrs: &[SocketAddr]) -> FetchPolicy {
    addrs
        .iter()
        .fold(FetchPolicy::default(), |p, a| p.exempting(*a))
}

fn purpose() -> Purpose {
    Purpose::knowledge("test")
}

async fn get(http: &HttpClient, url: &str) -> Result<Response, NetError> {
    http.request(Method::GET, Url::parse(url).unwrap(), purpose())
        .send()
        .await
}

async fn body(resp: Response) -> String {
    String::from_utf8(resp.bytes(1 << 20).await.unwrap().to_vec()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn redirects_to_private_or_local_addresses_are_refused_and_never_contacted() {
    let site = FakeSite::start().await;
    let trip = FakeTripwire::start().await;
    let port = trip.port();
    let cases = [
        (
            format!("http://127.0.0.1:{port}/"),
            ip("127.0.0.1"),
            AddressClass::Loopback,
        ),
        (
            format!("http://[::ffff:7f00:1]:{port}/"),
            ip("::ffff:127.0.0.1"),
            AddressClass::Loopback,
        ),
        (
            "http://[::ffff:127.0.0.1]/".to_owned(),
            ip("::ffff:127.0.0.1"),
            AddressClass::Loopback,
        ),
        (
            "http://10.0.0.1/".to_owned(),
            ip("10.0.0.1"),
            AddressClass::Private,
        ),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            ip("169.254.169.254"),
            AddressClass::LinkLocal,
        ),
        (
            format!("http://[64:ff9b::7f00:1]:{port}/"),
            ip("64:ff9b::7f00:1"),
            AddressClass::Loopback,
        ),
        (
            "http://100.64.0.1/".to_owned(),
            ip("100.64.0.1"),
            AddressClass::SharedNat,
        ),
        (
            "http://[fd00::1]/".to_owned(),
            ip("fd00::1"),
            AddressClass::UniqueLocal,
        ),
        (
            "http://[fe80::1]/".to_owned(),
            ip("fe80::1"),
            AddressClass::LinkLocal,
        ),
        (
            format!("http://0.0.0.0:{port}/"),
            ip("0.0.0.0"),
            AddressClass::Unspecified,
        ),
    ];
    for (i, (target, want_ip, want_class)) in cases.iter().enumerate() {
        // Every redirect status, in turn.
        let status = [301, 302, 303, 307, 308][i % 5];
        let path = format!("/start{i}");
        site.redirect(&path, status, target);
        let (http, ledger) = fetcher(cfg(), exempting(&[site.addr()]));
        let err = get(&http, &site.url(&path)).await.unwrap_err();
        assert_eq!(
            err.kind,
            NetErrorKind::Forbidden {
                ip: *want_ip,
                class: *want_class,
                redirected_from: Some("127.0.0.1".into()),
            },
            "{target}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "refused to follow the redirect from 127.0.0.1 to {want_ip}: it is {}",
                want_class.describe()
            )),
            "{msg}"
        );
        assert!(
            msg.contains("unless you allow local hosts (knowledge.allow_local_hosts or ORCHARD_KB_ALLOW_LOCAL_HOSTS=on)"),
            "{msg}"
        );
        assert!(
            !msg.contains("meta-data") && !msg.contains("/start"),
            "{msg}"
        );
        // The redirect itself was a request, recorded; the refused hop sent nothing.
        let rows = ledger.entries();
        assert_eq!(rows.len(), 1, "{target}: {rows:?}");
        assert_eq!(
            (rows[0].port, rows[0].status, rows[0].outcome.as_str()),
            (site.addr().port(), Some(status), "ok")
        );
    }
    assert_eq!(site.requests().len(), cases.len());
    trip.assert_untouched().await;
}

#[tokio::test]
async fn the_message_names_an_ipv4_address_written_as_ipv6() {
    let trip = FakeTripwire::start().await;
    let (http, _) = fetcher(cfg(), FetchPolicy::default());
    let err = get(&http, &format!("http://[::ffff:7f00:1]:{}/", trip.port()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused to connect to ::ffff:127.0.0.1: it is a loopback address (this machine) \
         (127.0.0.1, written as IPv6); Orchard does not fetch private or local addresses \
         for knowledge bases or downloads unless you allow local hosts (knowledge.allow_local_hosts or ORCHARD_KB_ALLOW_LOCAL_HOSTS=on)"
    );
    trip.assert_untouched().await;
}

#[tokio::test]
async fn a_url_naming_a_private_address_is_refused_before_anything_is_sent() {
    let trip = FakeTripwire::start().await;
    let (http, ledger) = fetcher(cfg(), FetchPolicy::default());
    for url in [
        format!("http://127.0.0.1:{}/sitemap.xml", trip.port()),
        format!("http://[::ffff:127.0.0.1]:{}/", trip.port()),
        format!("http://2130706433:{}/", trip.port()),
        format!("http://[::1]:{}/", trip.port()),
        "http://192.168.1.1/".to_owned(),
    ] {
        let err = get(&http, &url).await.unwrap_err();
        assert!(
            matches!(
                err.kind,
                NetErrorKind::Forbidden {
                    redirected_from: None,
                    ..
                }
            ),
            "{url}: {err:?}"
        );
        assert!(
            err.to_string().starts_with("refused to connect to "),
            "{err}"
        );
        assert_eq!(err.kind.ledger_outcome(), "refused");
    }
    assert!(
        ledger.entries().is_empty(),
        "nothing was sent, so nothing is in the ledger"
    );
    // An exemption is for the exact address: the same IP on another port is refused.
    let site = FakeSite::start().await;
    let (http, _) = fetcher(cfg(), exempting(&[site.addr()]));
    let err = get(&http, &format!("http://127.0.0.1:{}/", trip.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind, NetErrorKind::Forbidden { .. }),
        "{err:?}"
    );
    trip.assert_untouched().await;
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_after_dns() {
    let site = FakeSite::start().await;
    let trip = FakeTripwire::start().await;
    let (http, ledger) = fetcher(cfg(), exempting(&[site.addr()]));

    // Asked for directly.
    let err = get(&http, &format!("http://localhost:{}/", trip.port()))
        .await
        .unwrap_err();
    let NetErrorKind::Forbidden {
        ip,
        class,
        redirected_from,
    } = &err.kind
    else {
        panic!("not refused: {err:?}");
    };
    assert!(ip.is_loopback(), "{ip}");
    assert_eq!((*class, redirected_from), (AddressClass::Loopback, &None));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "refused to connect to localhost: it resolves to {ip}, a loopback address"
        )),
        "{msg}"
    );
    // The request was recorded before DNS ran (write-ahead) and ended refused.
    let rows = ledger.entries();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].host.as_str(), rows[0].outcome.as_str()),
        ("localhost", "refused")
    );

    // Reached through a redirect from an allowed site.
    site.redirect("/go", 302, &format!("http://localhost:{}/x", trip.port()));
    let err = get(&http, &site.url("/go")).await.unwrap_err();
    assert!(
        matches!(
            &err.kind,
            NetErrorKind::Forbidden { redirected_from: Some(from), class: AddressClass::Loopback, .. }
                if &**from == "127.0.0.1"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "refused to follow the redirect from 127.0.0.1 to localhost: it resolves to "
        ),
        "{err}"
    );
    trip.assert_untouched().await;
}

#[tokio::test]
async fn with_local_hosts_allowed_redirects_are_followed() {
    let first = FakeSite::start().await;
    let second = FakeSite::start().await;
    second.page("/page", "text/plain", "hello from the LAN");
    first.redirect("/by-ip", 302, &second.url("/page"));
    first.redirect(
        "/by-name",
        307,
        &format!("http://localhost:{}/page", second.addr().port()),
    );
    let (http, _) = fetcher(cfg(), FetchPolicy::allow_local());
    for path in ["/by-ip", "/by-name"] {
        let resp = get(&http, &first.url(path)).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(body(resp).await, "hello from the LAN");
    }
    assert_eq!(second.requests().len(), 2);
}

#[tokio::test]
async fn p_l3_each_redirect_hop_of_a_fetch_is_its_own_ledger_row() {
    let first = FakeSite::start().await;
    let second = FakeSite::start().await;
    first.redirect("/a", 301, "/b");
    first.redirect("/b", 302, &second.url("/sitemap.xml?page=2"));
    second.page("/sitemap.xml", "application/xml", "<urlset/>");
    let (http, ledger) = fetcher(cfg(), exempting(&[first.addr(), second.addr()]));
    let resp = get(&http, &first.url("/a")).await.unwrap();
    assert_eq!(body(resp).await, "<urlset/>");
    let rows = ledger.entries();
    let seen: Vec<(u16, Option<u16>, &str)> = rows
        .iter()
        .map(|r| (r.port, r.status, r.outcome.as_str()))
        .collect();
    let (p1, p2) = (first.addr().port(), second.addr().port());
    assert_eq!(
        seen,
        [
            (p1, Some(301), "ok"),
            (p1, Some(302), "ok"),
            (p2, Some(200), "ok")
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.host == "127.0.0.1" && r.method == "GET")
    );
    assert_eq!(rows[2].bytes_received, "<urlset/>".len() as u64);
    // The query string reached the server, and nothing of the URL reached the ledger.
    assert_eq!(second.requests()[0].query.as_deref(), Some("page=2"));
    let serialized = serde_json::to_string(&rows).unwrap();
    assert!(!serialized.contains("sitemap") && !serialized.contains("page=2"));
}

#[tokio::test]
async fn redirect_chains_are_limited_and_only_http_and_https_are_followed() {
    let site = FakeSite::start().await;
    site.redirect("/loop", 302, "/loop");
    site.redirect("/file", 302, "file:///etc/passwd");
    site.redirect("/gopher", 301, "gopher://127.0.0.1:70/");
    site.redirect("/empty", 302, "http://");
    let (http, ledger) = fetcher(cfg(), exempting(&[site.addr()]));

    let err = get(&http, &site.url("/loop")).await.unwrap_err();
    assert_eq!(
        err.kind,
        NetErrorKind::Redirect(RedirectIssue::TooMany(MAX_REDIRECTS))
    );
    assert!(
        err.to_string()
            .starts_with("127.0.0.1 redirected more than 10 times in a row"),
        "{err}"
    );
    // The first request and ten redirects followed: eleven requests, all recorded.
    assert_eq!(site.requests().len(), MAX_REDIRECTS + 1);
    assert_eq!(ledger.entries().len(), MAX_REDIRECTS + 1);

    let err = get(&http, &site.url("/file")).await.unwrap_err();
    assert_eq!(
        err.kind,
        NetErrorKind::Redirect(RedirectIssue::Scheme("file".into()))
    );
    assert!(
        err.to_string()
            .contains("follows redirects only to http and https"),
        "{err}"
    );
    let err = get(&http, &site.url("/gopher")).await.unwrap_err();
    assert_eq!(
        err.kind,
        NetErrorKind::Redirect(RedirectIssue::Scheme("gopher".into()))
    );
    let err = get(&http, &site.url("/empty")).await.unwrap_err();
    assert_eq!(err.kind, NetErrorKind::Redirect(RedirectIssue::BadLocation));
}

#[tokio::test]
async fn a_redirect_elsewhere_drops_credentials_and_a_303_continues_as_a_get() {
    let first = FakeSite::start().await;
    let second = FakeSite::start().await;
    first.redirect("/submit", 303, &second.url("/done"));
    first.redirect("/same", 307, "/kept");
    first.page("/kept", "text/plain", "kept");
    second.page("/done", "text/plain", "done");
    let (http, _) = fetcher(cfg(), exempting(&[first.addr(), second.addr()]));
    let post = |path: &str| {
        http.request(
            Method::POST,
            Url::parse(&first.url(path)).unwrap(),
            purpose(),
        )
        .secret_header(AUTHORIZATION, "Bearer hf_SECRET")
        .unwrap()
        .header(
            HeaderName::from_static("x-trace"),
            HeaderValue::from_static("t1"),
        )
        .json_body(br#"{"q":"x"}"#.to_vec())
    };

    let resp = post("/submit").send().await.unwrap();
    assert_eq!(body(resp).await, "done");
    let landed = &second.requests()[0];
    assert_eq!(landed.method, "GET");
    assert!(landed.body.is_empty());
    assert_eq!(
        landed.header("authorization"),
        None,
        "the key went elsewhere"
    );
    assert_eq!(landed.header("content-type"), None);
    assert_eq!(landed.header("x-trace"), Some("t1"));

    // Within one origin, a 307 repeats the request as it was.
    let resp = post("/same").send().await.unwrap();
    assert_eq!(body(resp).await, "kept");
    let again = first.requests().last().unwrap().clone();
    assert_eq!(
        (again.method.as_str(), again.path.as_str()),
        ("POST", "/kept")
    );
    assert_eq!(again.body, br#"{"q":"x"}"#);
    assert_eq!(again.header("authorization"), Some("Bearer hf_SECRET"));
}

fn proxied(proxy: &str) -> NetConfig {
    let p: orchard_net::ProxyUrl = proxy.parse().unwrap();
    NetConfig {
        proxy: ProxySettings {
            http: Some(p.clone()),
            https: Some(p),
            no_proxy: NoProxy::default(),
        },
        ..cfg()
    }
}

#[tokio::test]
async fn through_a_proxy_names_go_to_the_proxy_and_literal_addresses_are_still_refused() {
    let site = FakeSite::start().await;
    site.page("/page", "text/plain", "via proxy");
    let proxy = FakeHttpProxy::start(site.addr()).await;
    let trip = FakeTripwire::start().await;
    // The proxy is named `localhost`, which the guard refuses as a target: the
    // proxy the person configured is trusted all the same.
    let (http, ledger) = fetcher(
        proxied(&format!("http://localhost:{}", proxy.addr().port())),
        FetchPolicy::default(),
    );
    // kb.example does not resolve: only the proxy can have carried this.
    let resp = get(&http, "http://kb.example/page").await.unwrap();
    assert_eq!(body(resp).await, "via proxy");
    assert_eq!(proxy.seen(), ["http://kb.example/page"]);
    let via = ledger.entries()[0].via_proxy.clone();
    assert_eq!(via, Some(format!("localhost:{}", proxy.addr().port())));

    for url in [
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let err = get(&http, &url).await.unwrap_err();
        assert!(
            matches!(err.kind, NetErrorKind::Forbidden { .. }),
            "{err:?}"
        );
    }
    // Loopback names bypass the proxy, so they are resolved here, and refused.
    let err = get(&http, &format!("http://localhost:{}/", trip.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind, NetErrorKind::Forbidden { .. }),
        "{err:?}"
    );
    assert_eq!(proxy.seen().len(), 1, "{:?}", proxy.seen());
    trip.assert_untouched().await;
}

#[tokio::test]
async fn a_plain_client_still_never_follows_redirects() {
    let site = FakeSite::start().await;
    site.redirect("/moved", 302, "/here");
    let ledger = Arc::new(Ledger::default());
    let http = HttpClient::new(NetConfig::default(), ledger.clone()).unwrap();
    assert!(http.fetch_policy().is_none());
    let resp = get(&http, &site.url("/moved")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    drop(resp);
    assert_eq!(site.requests().len(), 1);
    let guarded = http.fetcher(FetchPolicy::allow_local()).unwrap();
    assert_eq!(guarded.fetch_policy(), Some(&FetchPolicy::allow_local()));
}
