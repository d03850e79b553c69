//! Two tiny proxies for proxy tests: an HTTP forward proxy (absolute-form
//! and CONNECT) and a SOCKS5 proxy. Both send every connection to one fixed
//! upstream, whatever destination the client asks for.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::http::{self, Head};
use crate::provider::origin_form;

type Seen = Arc<Mutex<Vec<String>>>;

fn note(seen: &Seen, entry: String) {
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry);
}

fn snapshot(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

async fn bind_loopback(what: &str) -> TcpListener {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => panic!("{what}: cannot bind {addr}: {e}"),
    }
}

/// Accepts connections forever, running `handle` on each; every connection
/// task is aborted when the accept task is.
async fn accept_loop<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(handle(stream));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// An HTTP forward proxy on `127.0.0.1:0`.
///
/// Accepts absolute-form requests (`POST http://host/path HTTP/1.1`,
/// rewritten to origin-form before relaying) and `CONNECT host:port`
/// tunnels. Every connection goes to the fixed upstream. Stops when dropped.
pub struct FakeHttpProxy {
    addr: SocketAddr,
    seen: Seen,
    task: JoinHandle<()>,
}

impl Drop for FakeHttpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeHttpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHttpProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeHttpProxy {
    /// Starts the proxy, relaying to `upstream`.
    ///
    /// # Panics
    /// If binding fails.
    pub async fn start(upstream: SocketAddr) -> FakeHttpProxy {
        let listener = bind_loopback("FakeHttpProxy::start").await;
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("FakeHttpProxy::start: {e}"));
        let seen = Seen::default();
        let conn_seen = Arc::clone(&seen);
        let task = tokio::spawn(accept_loop(listener, move |client| {
            http_proxy_conn(client, upstream, Arc::clone(&conn_seen))
        }));
        FakeHttpProxy { addr, seen, task }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request targets seen, in order: `"http://host/path"` for
    /// absolute-form requests, `"CONNECT host:port"` for tunnels.
    pub fn seen(&self) -> Vec<String> {
        snapshot(&self.seen)
    }
}

/// Head rewritten to origin-form, without hop-by-hop proxy headers.
fn forward_head(head: &Head) -> Vec<u8> {
    let mut out = format!(
        "{} {} {}\r\n",
        head.method,
        origin_form(&head.target),
        head.version
    );
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("proxy-connection")
            || name.eq_ignore_ascii_case("proxy-authorization")
        {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

async fn http_proxy_conn(mut client: TcpStream, upstream: SocketAddr, seen: Seen) {
    let mut buf = Vec::new();
    let Ok(Some(head)) = http::read_head(&mut client, &mut buf).await else {
        return;
    };
    let is_connect = head.method.eq_ignore_ascii_case("CONNECT");
    note(
        &seen,
        if is_connect {
            format!("CONNECT {}", head.target)
        } else {
            head.target.clone()
        },
    );
    let mut up = match TcpStream::connect(upstream).await {
        Ok(up) => up,
        Err(_) => {
            let _ = client
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            return;
        }
    };
    let _ = up.set_nodelay(true);
    if is_connect {
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        if !buf.is_empty() && up.write_all(&buf).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
        return;
    }
    // Absolute-form: parse each request on the client side (to rewrite its
    // request line and note its target), relay responses back as raw bytes.
    let (mut client_r, mut client_w) = client.into_split();
    let (mut up_r, mut up_w) = up.into_split();
    let responses = async move {
        let _ = tokio::io::copy(&mut up_r, &mut client_w).await;
        let _ = client_w.shutdown().await;
    };
    let requests = async move {
        let mut head = head;
        loop {
            if up_w.write_all(&forward_head(&head)).await.is_err() {
                break;
            }
            let Ok(body) = http::read_body(&mut client_r, &mut buf, &head).await else {
                break;
            };
            if up_w.write_all(&body.raw).await.is_err() {
                break;
            }
            match http::read_head(&mut client_r, &mut buf).await {
                Ok(Some(next)) => {
                    note(&seen, next.target.clone());
                    head = next;
                }
                _ => break,
            }
        }
        let _ = up_w.shutdown().await;
    };
    tokio::join!(responses, requests);
}

/// A minimal RFC 1928 SOCKS5 proxy on `127.0.0.1:0`: no-auth method,
/// CONNECT command, IPv4 / domain / IPv6 addresses. Every connection goes
/// to the fixed upstream. Stops when dropped.
pub struct FakeSocks5Proxy {
    addr: SocketAddr,
    seen: Seen,
    task: JoinHandle<()>,
}

impl Drop for FakeSocks5Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeSocks5Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSocks5Proxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeSocks5Proxy {
    /// Starts the proxy, relaying to `upstream`.
    ///
    /// # Panics
    /// If binding fails.
    pub async fn start(upstream: SocketAddr) -> FakeSocks5Proxy {
        let listener = bind_loopback("FakeSocks5Proxy::start").await;
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("FakeSocks5Proxy::start: {e}"));
        let seen = Seen::default();
        let conn_seen = Arc::clone(&seen);
        let task = tokio::spawn(accept_loop(listener, move |client| {
            let seen = Arc::clone(&conn_seen);
            async move {
                let _ = socks_conn(client, upstream, seen).await;
            }
        }));
        FakeSocks5Proxy { addr, seen, task }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `socks5h://127.0.0.1:PORT` (the client lets the proxy resolve names).
    pub fn url(&self) -> String {
        format!("socks5h://{}", self.addr)
    }

    /// Destinations requested, in order, e.g. `"provider.test:80"`
    /// (IPv6 addresses in brackets).
    pub fn seen(&self) -> Vec<String> {
        snapshot(&self.seen)
    }
}

/// SOCKS5 reply with the given REP code and an IPv4 bound address.
fn socks_reply(rep: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let (ip, port) = match bound {
        Some(SocketAddr::V4(a)) => (a.ip().octets(), a.port()),
        _ => ([0; 4], 0),
    };
    let mut out = vec![5, rep, 0, 1];
    out.extend_from_slice(&ip);
    out.extend_from_slice(&port.to_be_bytes());
    out
}

async fn socks_conn(mut client: TcpStream, upstream: SocketAddr, seen: Seen) -> io::Result<()> {
    // Greeting: VER NMETHODS METHODS...
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    if greeting[0] != 5 {
        return Ok(());
    }
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        client.write_all(&[5, 0xFF]).await?;
        return Ok(());
    }
    client.write_all(&[5, 0]).await?;

    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await?;
    if req[0] != 5 {
        return Ok(());
    }
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a).await?;
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a).await?;
            format!("[{}]", Ipv6Addr::from(a))
        }
        _ => {
            client.write_all(&socks_reply(8, None)).await?;
            return Ok(());
        }
    };
    let port = client.read_u16().await?;
    if req[1] != 1 {
        client.write_all(&socks_reply(7, None)).await?;
        return Ok(());
    }
    note(&seen, format!("{host}:{port}"));
    let mut up = match TcpStream::connect(upstream).await {
        Ok(up) => up,
        Err(_) => {
            client.write_all(&socks_reply(5, None)).await?;
            return Ok(());
        }
    };
    let _ = up.set_nodelay(true);
    client
        .write_all(&socks_reply(0, up.local_addr().ok()))
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut up).await?;
    Ok(())
}
