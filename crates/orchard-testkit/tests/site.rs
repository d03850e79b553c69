//! The fake website and the tripwire, checked with raw sockets.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use orchard_testkit::{FakeSite, FakeTripwire, Page};

async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_site_serves_pages_redirects_and_404s_and_records_requests() {
    let site = FakeSite::start().await;
    site.page("/a.xml", "application/xml", "<urlset/>");
    site.redirect("/old", 308, "/a.xml");
    site.set(
        "/teapot",
        Page {
            status: 418,
            headers: Vec::new(),
            body: b"short and stout".to_vec(),
        },
    );
    let ok = raw(
        site.addr(),
        "GET /a.xml?x=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("content-type: application/xml\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\n<urlset/>"), "{ok}");
    let moved = raw(
        site.addr(),
        "GET /old HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        moved.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"),
        "{moved}"
    );
    assert!(moved.contains("location: /a.xml\r\n"), "{moved}");
    let missing = raw(
        site.addr(),
        "GET /nope HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{missing}"
    );
    let tea = raw(
        site.addr(),
        "GET /teapot HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        tea.starts_with("HTTP/1.1 418 ") && tea.ends_with("short and stout"),
        "{tea}"
    );
    let paths: Vec<_> = site
        .requests()
        .into_iter()
        .map(|r| (r.path, r.query))
        .collect();
    assert_eq!(
        paths,
        [
            ("/a.xml".to_owned(), Some("x=1".to_owned())),
            ("/old".to_owned(), None),
            ("/nope".to_owned(), None),
            ("/teapot".to_owned(), None),
        ]
    );
    assert_eq!(site.url("/x"), format!("http://{}/x", site.addr()));
}

#[tokio::test]
async fn an_untouched_tripwire_passes_its_check_twice() {
    let trip = FakeTripwire::start().await;
    trip.assert_untouched().await;
    trip.assert_untouched().await;
}

#[tokio::test]
#[should_panic(expected = "1 connection(s) reached it before the check")]
async fn a_tripwire_that_was_connected_to_fails_its_check() {
    let trip = FakeTripwire::start().await;
    let intruder = TcpStream::connect(trip.addr()).await.unwrap();
    drop(intruder);
    trip.assert_untouched().await;
}
