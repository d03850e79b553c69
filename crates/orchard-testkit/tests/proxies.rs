//! The fake HTTP and SOCKS5 proxies relay to the provider.

mod common;

use common::{Client, chat, chat_body, request, streamed_content};
use orchard_testkit::{FakeHttpProxy, FakeProvider, FakeSocks5Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http_proxy_absolute_form() {
    let p = FakeProvider::start().await;
    let proxy = FakeHttpProxy::start(p.addr()).await;
    assert_eq!(proxy.url(), format!("http://{}", proxy.addr()));

    let mut c = Client::connect(proxy.addr()).await;
    let mut raw = chat(
        &chat_body("fake-small", "via proxy", true),
        &[("proxy-connection", "keep-alive")],
    );
    let absolute = b"POST http://provider.test/v1/chat/completions HTTP/1.1";
    let origin = b"POST /v1/chat/completions HTTP/1.1";
    raw.splice(..origin.len(), absolute.iter().copied());
    let resp = c.roundtrip(&raw).await;
    assert_eq!(resp.status, 200);
    assert!(resp.complete);
    assert_eq!(streamed_content(&resp.text()), "echo: via proxy");

    // A second request on the same proxy connection is rewritten too.
    let second = request("GET", "http://provider.test/v1/models", &[], "");
    let resp = c.roundtrip(&second).await;
    assert_eq!(resp.json()["object"], "list");

    assert_eq!(
        proxy.seen(),
        [
            "http://provider.test/v1/chat/completions",
            "http://provider.test/v1/models"
        ]
    );
    let recorded = p.requests();
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert!(recorded[0].header("proxy-connection").is_none());
    assert_eq!(recorded[1].path, "/v1/models");
}

#[tokio::test]
async fn http_proxy_connect_tunnel() {
    let p = FakeProvider::start().await;
    let proxy = FakeHttpProxy::start(p.addr()).await;
    let mut c = Client::connect(proxy.addr()).await;
    c.send(b"CONNECT provider.test:443 HTTP/1.1\r\nHost: provider.test:443\r\n\r\n")
        .await;
    let established = c.read_head().await;
    assert_eq!(established.status, 200);
    let resp = c
        .roundtrip(&chat(&chat_body("fake-small", "tunnel", false), &[]))
        .await;
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "echo: tunnel"
    );
    assert_eq!(proxy.seen(), ["CONNECT provider.test:443"]);
}

async fn socks_connect(proxy: &FakeSocks5Proxy, addr_part: &[u8]) -> Client {
    let mut c = Client::connect(proxy.addr()).await;
    // Greeting: version 5, two methods (no-auth, user/pass).
    c.stream.write_all(&[5, 2, 0, 2]).await.unwrap();
    let mut choice = [0u8; 2];
    c.stream.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 0], "no-auth chosen");
    let mut req = vec![5, 1, 0];
    req.extend_from_slice(addr_part);
    c.stream.write_all(&req).await.unwrap();
    let mut reply = [0u8; 10];
    c.stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[..4], &[5, 0, 0, 1], "CONNECT succeeded");
    c
}

#[tokio::test]
async fn socks5_proxy_relays_domain_ipv4_ipv6() {
    let p = FakeProvider::start().await;
    let proxy = FakeSocks5Proxy::start(p.addr()).await;
    assert_eq!(proxy.url(), format!("socks5h://{}", proxy.addr()));

    let mut domain = vec![3, 13];
    domain.extend_from_slice(b"provider.test");
    domain.extend_from_slice(&80u16.to_be_bytes());
    let mut c = socks_connect(&proxy, &domain).await;
    let resp = c
        .roundtrip(&chat(&chat_body("fake-small", "socks", true), &[]))
        .await;
    assert_eq!(streamed_content(&resp.text()), "echo: socks");

    let mut c = socks_connect(&proxy, &[1, 10, 1, 2, 3, 0x01, 0xBB]).await;
    let resp = c.roundtrip(&request("GET", "/v1/models", &[], "")).await;
    assert_eq!(resp.status, 200);

    let mut v6 = vec![4];
    v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&8080u16.to_be_bytes());
    let mut c = socks_connect(&proxy, &v6).await;
    let resp = c.roundtrip(&request("GET", "/v1/models", &[], "")).await;
    assert_eq!(resp.status, 200);

    assert_eq!(
        proxy.seen(),
        ["provider.test:80", "10.1.2.3:443", "[::1]:8080"]
    );
    assert_eq!(p.requests().len(), 3);
}

#[tokio::test]
async fn socks5_rejects_auth_only_clients() {
    let p = FakeProvider::start().await;
    let proxy = FakeSocks5Proxy::start(p.addr()).await;
    let mut c = Client::connect(proxy.addr()).await;
    c.stream.write_all(&[5, 1, 2]).await.unwrap();
    let mut choice = [0u8; 2];
    c.stream.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 0xFF]);
    assert!(proxy.seen().is_empty());
}
