//! `orchard-net`: the one door through which anything leaves the machine.
//!
//! Every outbound HTTP request in Orchard is made by [`HttpClient`]. That gives one
//! place for proxy rules, timeouts, and the egress ledger (promise L3): each request,
//! whether it succeeds, fails, or is abandoned half-way, produces exactly one
//! [`orchard_core::egress::EgressEntry`] with host, port, purpose, byte counts and
//! outcome, and never a path, query string, header or body.
//!
//! Redirects are never followed (a redirect would carry the request to a host the
//! person did not configure); callers see the 3xx and report it. The exception is a
//! guarded fetcher ([`HttpClient::fetcher`]), for addresses a person hands Orchard to
//! fetch: it refuses private and local addresses ([`FetchPolicy`], [`AddressClass`])
//! and follows redirects itself, each hop checked and recorded as its own request.
//!
//! No other crate in the workspace depends on an HTTP client; the test
//! `p_l3_only_orchard_net_opens_outbound_connections` checks that with `cargo metadata`.

mod client;
mod error;
mod guard;
mod proxy;

pub use client::{HttpClient, NetConfig, RequestBuilder, Response};

/// A listening socket for the studio, with a deep accept queue: a burst of connections
/// (many tabs, or hundreds of answers streamed at once) waits for `accept` instead of
/// being reset by the kernel, as happens past the default queue of 128. It lives here
/// because every socket Orchard opens is opened by this crate.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
pub use error::{NetError, NetErrorKind, RedirectIssue};
pub use guard::{AddressClass, FetchPolicy, MAX_REDIRECTS};
pub use proxy::{NoProxy, ProxySettings, ProxyUrl, ProxyUrlError};
pub use reqwest::header;
pub use reqwest::{Method, StatusCode};
pub use url::Url;
