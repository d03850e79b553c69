//! Network failures, described for people.
//!
//! Messages name the host and port and what to check; they never contain a URL path,
//! query string, header or body (those may carry keys or content).

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::guard::{AddressClass, RefusedAddress, embedded_v4};

/// What kind of failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetErrorKind {
    /// The host refused or could not be reached.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The configured proxy could not be reached or refused the tunnel.
    Proxy,
    /// TLS handshake or certificate failure.
    Tls,
    /// Connecting took longer than the connect timeout.
    ConnectTimeout(Duration),
    /// No response headers within the first-byte timeout.
    FirstByteTimeout(Duration),
    /// The response stopped arriving for longer than the idle timeout.
    IdleTimeout(Duration),
    /// The connection closed before the response body was complete.
    Cut,
    /// The response body was larger than allowed.
    TooLarge(u64),
    /// The egress ledger could not record the request, so it was not sent.
    NotRecorded,
    /// A guarded fetch (see [`HttpClient::fetcher`](crate::HttpClient::fetcher)) was
    /// refused because the address is private or local: named in the URL, in a
    /// redirect, or what the host name resolves to. Nothing was sent to it.
    Forbidden {
        /// The refused address.
        ip: IpAddr,
        /// Why it is refused.
        class: AddressClass,
        /// The host whose redirect pointed there, if it was a redirect (boxed to keep
        /// errors small).
        redirected_from: Option<Box<str>>,
    },
    /// A guarded fetch did not follow a redirect.
    Redirect(RedirectIssue),
    /// Anything else (a bug, or an unusual I/O error).
    Other,
}

impl NetErrorKind {
    /// Short class for the egress ledger's `outcome` column.
    pub fn ledger_outcome(&self) -> &'static str {
        match self {
            NetErrorKind::Connect => "connect",
            NetErrorKind::Dns => "dns",
            NetErrorKind::Proxy => "proxy",
            NetErrorKind::Tls => "tls",
            NetErrorKind::ConnectTimeout(_) => "connect-timeout",
            NetErrorKind::FirstByteTimeout(_) => "first-byte-timeout",
            NetErrorKind::IdleTimeout(_) => "idle-timeout",
            NetErrorKind::Cut => "cut",
            NetErrorKind::TooLarge(_) => "too-large",
            NetErrorKind::NotRecorded => "not-recorded",
            NetErrorKind::Forbidden { .. } => "refused",
            NetErrorKind::Redirect(_) => "redirect",
            NetErrorKind::Other => "error",
        }
    }
}

/// Why a guarded fetch stopped following redirects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectIssue {
    /// More redirects than the limit, in a row.
    TooMany(usize),
    /// The redirect pointed at a scheme other than `http` or `https` (the scheme).
    Scheme(String),
    /// The `Location` header is not a URL.
    BadLocation,
}

/// A failed request.
#[derive(Debug, Clone)]
pub struct NetError {
    /// What went wrong.
    pub kind: NetErrorKind,
    /// The host asked for.
    pub host: String,
    /// The port asked for.
    pub port: u16,
    /// The proxy used, as `host:port`, if any.
    pub via_proxy: Option<String>,
    /// The lower-level cause, for logs (no URL, no headers).
    pub detail: String,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, port) = (&self.host, self.port);
        match &self.kind {
            NetErrorKind::Connect => write!(
                f,
                "could not connect to {host}:{port} ({}); is the server running and the address right?",
                self.detail
            ),
            NetErrorKind::Dns => write!(
                f,
                "could not resolve the host name {host}; check the address and your network"
            ),
            NetErrorKind::Proxy => write!(
                f,
                "could not reach {host}:{port} through the proxy {} ({}); check the proxy setting (orchard config show)",
                self.via_proxy.as_deref().unwrap_or("?"),
                self.detail
            ),
            NetErrorKind::Tls => write!(
                f,
                "secure connection (TLS) to {host}:{port} failed ({}); check that the address is https and its certificate is valid",
                self.detail
            ),
            NetErrorKind::ConnectTimeout(d) => write!(
                f,
                "connecting to {host}:{port} timed out after {}",
                human(*d)
            ),
            NetErrorKind::FirstByteTimeout(d) => write!(
                f,
                "{host} did not start answering within {} (net.first_byte_timeout)",
                human(*d)
            ),
            NetErrorKind::IdleTimeout(d) => write!(
                f,
                "{host} stopped sending for {} in the middle of the answer (net.idle_timeout)",
                human(*d)
            ),
            NetErrorKind::Cut => write!(
                f,
                "the connection to {host} closed before the answer was complete"
            ),
            NetErrorKind::TooLarge(limit) => {
                write!(f, "the response from {host} was larger than {limit} bytes")
            }
            NetErrorKind::NotRecorded => write!(
                f,
                "nothing was sent to {host}: the request could not be recorded in the egress ledger ({})",
                self.detail
            ),
            NetErrorKind::Forbidden {
                ip,
                class,
                redirected_from,
            } => {
                let literal = host.parse::<IpAddr>().is_ok_and(|h| h == *ip);
                match redirected_from {
                    Some(from) => write!(f, "refused to follow the redirect from {from} to ")?,
                    None => write!(f, "refused to connect to ")?,
                }
                // An IPv4 address written as IPv6 is named both ways.
                let carried = match ip {
                    IpAddr::V6(v6) => embedded_v4(*v6)
                        .map(|v4| format!(" ({v4}, written as IPv6)"))
                        .unwrap_or_default(),
                    IpAddr::V4(_) => String::new(),
                };
                let what = class.describe();
                if literal {
                    write!(f, "{ip}: it is {what}{carried}")?;
                } else {
                    write!(f, "{host}: it resolves to {ip}{carried}, {what}")?;
                }
                write!(
                    f,
                    "; Orchard does not fetch private or local addresses for knowledge bases or downloads unless you allow local hosts (knowledge.allow_local_hosts or ORCHARD_KB_ALLOW_LOCAL_HOSTS=on)"
                )
            }
            NetErrorKind::Redirect(RedirectIssue::TooMany(n)) => write!(
                f,
                "{host} redirected more than {n} times in a row; Orchard stopped following (is it a redirect loop?)"
            ),
            NetErrorKind::Redirect(RedirectIssue::Scheme(scheme)) => write!(
                f,
                "{host} redirected to a {scheme}: address; Orchard follows redirects only to http and https addresses"
            ),
            NetErrorKind::Redirect(RedirectIssue::BadLocation) => write!(
                f,
                "{host} answered with a redirect whose Location is not a usable address"
            ),
            NetErrorKind::Other => write!(f, "request to {host}:{port} failed ({})", self.detail),
        }
    }
}

impl StdError for NetError {}

fn human(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Sorts a reqwest error into a [`NetErrorKind`] by walking its source chain.
pub(crate) fn classify(
    err: &reqwest::Error,
    proxied: bool,
    connect_timeout: Duration,
) -> (NetErrorKind, String) {
    let detail = innermost_message(err);
    if let Some(refused) = refused_address(err) {
        return (
            NetErrorKind::Forbidden {
                ip: refused.ip,
                class: refused.class,
                redirected_from: None,
            },
            detail,
        );
    }
    let chain = chain_text(err);
    if has_tls_error(err)
        || chain.contains("invalid peer certificate")
        || chain.contains("tls handshake")
    {
        return (NetErrorKind::Tls, detail);
    }
    if err.is_connect() {
        if err.is_timeout() || chain.contains("timed out") {
            return (NetErrorKind::ConnectTimeout(connect_timeout), detail);
        }
        if proxied {
            return (NetErrorKind::Proxy, detail);
        }
        if chain.contains("dns error") || chain.contains("failed to lookup address") {
            return (NetErrorKind::Dns, detail);
        }
        return (NetErrorKind::Connect, detail);
    }
    if err.is_body()
        || err.is_decode()
        || chain.contains("connection closed before message completed")
    {
        return (NetErrorKind::Cut, detail);
    }
    if err.is_request() && proxied && chain.contains("proxy") {
        return (NetErrorKind::Proxy, detail);
    }
    (NetErrorKind::Other, detail)
}

/// Visits `err` and every cause. `io::Error::source` skips the wrapped error itself,
/// so wrapped errors are unwrapped explicitly.
fn walk<'a>(err: &'a (dyn StdError + 'static), f: &mut dyn FnMut(&'a (dyn StdError + 'static))) {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut guard = 0;
    while let Some(e) = cur {
        f(e);
        guard += 1;
        if guard > 32 {
            break;
        }
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
}

/// The guard's refusal of every address of a name, if that is what failed.
fn refused_address(err: &reqwest::Error) -> Option<RefusedAddress> {
    let mut found = None;
    walk(err, &mut |e| {
        if found.is_none() {
            found = e.downcast_ref::<RefusedAddress>().cloned();
        }
    });
    found
}

fn has_tls_error(err: &reqwest::Error) -> bool {
    let mut found = false;
    walk(err, &mut |e| {
        if e.downcast_ref::<rustls::Error>().is_some() {
            found = true;
        }
    });
    found
}

fn chain_text(err: &reqwest::Error) -> String {
    let mut s = String::new();
    walk(err, &mut |e| {
        s.push_str(&e.to_string().to_ascii_lowercase());
        s.push('|');
    });
    s
}

/// The most specific cause's message. reqwest's own top-level message embeds the URL,
/// so it is never used.
fn innermost_message(err: &reqwest::Error) -> String {
    let mut last = String::new();
    walk(err, &mut |e| {
        if !std::ptr::addr_eq(e as *const _, err as *const _) {
            last = e.to_string();
        }
    });
    if last.is_empty() {
        "unknown error".to_owned()
    } else {
        last
    }
}
