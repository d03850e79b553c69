//! A plain website on loopback (pages and redirects), and a tripwire: a listener
//! that proves nobody connected to it. For testing fetches of addresses a person
//! gives (knowledge-base pages, sitemaps) and the guard around them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::http;
use crate::provider::RecordedRequest;

/// What a [`FakeSite`] answers for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Response headers (`content-length` and `connection` are added).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl Page {
    /// A 200 page with this content type and body.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Page {
        Page {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.into(),
        }
    }

    /// A redirect (301, 302, 303, 307 or 308) to `location`, sent as given.
    pub fn redirect(status: u16, location: &str) -> Page {
        Page {
            status,
            headers: vec![
                ("location".to_owned(), location.to_owned()),
                ("content-type".to_owned(), "text/html".to_owned()),
            ],
            body: format!("<a href=\"{location}\">moved</a>").into_bytes(),
        }
    }
}

#[derive(Default)]
struct SiteState {
    pages: HashMap<String, Page>,
    requests: Vec<RecordedRequest>,
}

/// A website on `127.0.0.1:0` answering fixed pages by path (the query is
/// ignored; unknown paths get `404 not found`), keeping every request it
/// received. HTTP/1.1 with keep-alive. Stops when dropped.
pub struct FakeSite {
    addr: SocketAddr,
    state: Arc<Mutex<SiteState>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSite")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSite {
    /// Starts a site with no pages.
    ///
    /// # Panics
    /// If binding fails.
    pub async fn start() -> FakeSite {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("FakeSite: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("FakeSite: local address");
        let state = Arc::new(Mutex::new(SiteState::default()));
        let task = tokio::spawn(serve_site(listener, Arc::clone(&state)));
        FakeSite { addr, state, task }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `page` at `path` (replacing what was there).
    pub fn set(&self, path: &str, page: Page) {
        self.lock().pages.insert(path.to_owned(), page);
    }

    /// Serves a 200 page at `path`.
    pub fn page(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.set(path, Page::ok(content_type, body));
    }

    /// Redirects `path` to `location` with `status`.
    pub fn redirect(&self, path: &str, status: u16, location: &str) {
        self.set(path, Page::redirect(status, location));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SiteState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn serve_site(listener: TcpListener, state: Arc<Mutex<SiteState>>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(site_conn(stream, Arc::clone(&state)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn site_conn(mut stream: TcpStream, state: Arc<Mutex<SiteState>>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let Ok(Some(head)) = http::read_head(&mut stream, &mut buf).await else {
            return;
        };
        let Ok(body) = http::read_body(&mut stream, &mut buf, &head).await else {
            return;
        };
        let target = crate::provider::origin_form(&head.target);
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.clone(), None),
        };
        let page = {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            s.requests.push(RecordedRequest {
                method: head.method.clone(),
                path: path.clone(),
                query,
                headers: head
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                    .collect(),
                body: body.decoded,
            });
            s.pages.get(&path).cloned()
        };
        let page = page.unwrap_or_else(|| Page {
            status: 404,
            headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
            body: b"not found".to_vec(),
        });
        let close = head.wants_close();
        let mut headers = page.headers.clone();
        headers.push(("content-length".to_owned(), page.body.len().to_string()));
        headers.push((
            "connection".to_owned(),
            if close { "close" } else { "keep-alive" }.to_owned(),
        ));
        let mut out = http::response_head(page.status, &headers);
        if head.method != "HEAD" {
            out.extend_from_slice(&page.body);
        }
        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() || close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// A listener that nothing may connect to: it never answers, and
/// [`FakeTripwire::assert_untouched`] proves (without sleeping) that no
/// connection reached it. Point a refused redirect at it.
pub struct FakeTripwire {
    listener: TcpListener,
    addr: SocketAddr,
}

impl std::fmt::Debug for FakeTripwire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTripwire")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeTripwire {
    /// Binds `127.0.0.1:0` and accepts nothing until checked.
    ///
    /// # Panics
    /// If binding fails.
    pub async fn start() -> FakeTripwire {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("FakeTripwire: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("FakeTripwire: local address");
        FakeTripwire { listener, addr }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Panics if anything connected before this call. The kernel queues
    /// connections in the order they were made, so the check connects a probe
    /// and accepts: the first connection waiting must be the probe.
    ///
    /// # Panics
    /// If another connection came first, or the probe cannot connect within 10 s.
    pub async fn assert_untouched(&self) {
        let check = async {
            let probe = TcpStream::connect(self.addr)
                .await
                .expect("FakeTripwire: connect the probe");
            let probe_addr = probe.local_addr().expect("FakeTripwire: probe address");
            let mut intruders = Vec::new();
            loop {
                let (_conn, peer) = self.listener.accept().await.expect("FakeTripwire: accept");
                if peer == probe_addr {
                    break;
                }
                intruders.push(peer);
            }
            intruders
        };
        let intruders = tokio::time::timeout(Duration::from_secs(10), check)
            .await
            .expect("FakeTripwire: the probe did not arrive within 10 s");
        assert!(
            intruders.is_empty(),
            "FakeTripwire {}: {} connection(s) reached it before the check, from {intruders:?}",
            self.addr,
            intruders.len()
        );
    }
}
