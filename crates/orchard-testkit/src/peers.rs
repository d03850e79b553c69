//! Peers that clients must fail against: untrusted TLS, TLS to a plain port, a host that never accepts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A TLS server for `localhost` whose certificate is self-signed (so no client that
/// verifies certificates accepts it). Stops when dropped.
pub struct FakeTlsServer {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FakeTlsServer {
    /// Binds `127.0.0.1:0` and starts accepting.
    pub async fn start() -> FakeTlsServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("generate a self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counter = handshakes.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut tls) = acceptor.accept(sock).await {
                        let mut buf = [0u8; 1024];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                            .await;
                    }
                });
            }
        });
        FakeTlsServer {
            addr,
            handshakes,
            task,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections attempted a handshake.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for FakeTlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plain-HTTP server that, like nginx or Apache, answers whatever arrives (here: a
/// TLS ClientHello sent to the wrong port) with `400 Bad Request` and closes.
pub struct FakeBadTlsPeer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeBadTlsPeer {
    /// Binds `127.0.0.1:0` and starts accepting.
    pub async fn start() -> FakeBadTlsPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/html\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        FakeBadTlsPeer { addr, task }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FakeBadTlsPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address where connecting hangs: a listener with a full accept queue (backlog 0,
/// filled by one connection it never accepts), so the kernel drops further connection
/// attempts. For testing connect timeouts on loopback.
pub struct FakeBlackhole {
    addr: SocketAddr,
    _listener: TcpListener,
    _filler: std::net::TcpStream,
}

impl FakeBlackhole {
    /// Binds `127.0.0.1:0` with a full queue.
    pub async fn start() -> FakeBlackhole {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        let listener = socket.listen(0).expect("listen");
        let filler =
            std::net::TcpStream::connect(addr).expect("the first connection fills the queue");
        FakeBlackhole {
            addr,
            _listener: listener,
            _filler: filler,
        }
    }

    /// The address where connecting hangs.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
