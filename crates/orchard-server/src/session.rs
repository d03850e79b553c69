//! Sessions and CSRF protection for the studio.
//!
//! The local studio has no accounts, but a page on another site can still send
//! requests to `127.0.0.1`, and a hostile DNS name can be rebound to it. So:
//! - every page sets a random session cookie (`HttpOnly`, `SameSite=Strict`);
//! - every page carries a CSRF token derived from that session and a per-process
//!   secret, and every state-changing API request must send it back in
//!   `X-CSRF-Token` (another site can neither read the page nor forge the token);
//! - requests whose `Host` is a name other than `localhost` are refused, which stops
//!   DNS rebinding (a rebound name arrives with the attacker's host name).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The session cookie's name.
pub const COOKIE: &str = "orchard_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The per-process secret tokens are derived from.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        Self(b)
    }

    /// The CSRF token of a session.
    pub fn token(&self, session: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(b"csrf:");
        h.update(session.as_bytes());
        hex::encode(h.finalize())
    }
}

/// The session id in a request's cookies, if it has a well-formed one.
pub fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new session id.
pub fn new_session() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    hex::encode(b)
}

/// The `Set-Cookie` value for a session.
pub fn cookie(session: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict"
    ))
    .expect("a hex session id is a valid header value")
}

/// Whether a `Host` header names this machine: an IP literal or `localhost`.
fn host_allowed(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true; // HTTP/1.0 without Host: nothing to rebind.
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Refuses requests for a foreign host name, and state-changing API requests without
/// the session's CSRF token.
pub async fn guard(secret: axum::extract::State<Secret>, req: Request, next: Next) -> Response {
    if !host_allowed(req.headers()) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_refused",
            "Orchard answers only to localhost and IP addresses; open it at http://127.0.0.1 instead",
        )
        .into_response();
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && req.uri().path().starts_with("/api/") {
        let ok = session_of(req.headers()).is_some_and(|s| {
            req.headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| constant_time_eq(t.as_bytes(), secret.token(&s).as_bytes()))
        });
        if !ok {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "this request did not come from an Orchard page (its session or CSRF token is missing or wrong); reload the page and try again",
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn only_local_names_and_ip_literals_are_served() {
        for ok in [
            "127.0.0.1:7878",
            "localhost:7878",
            "[::1]:7878",
            "192.168.1.5",
            "LOCALHOST",
        ] {
            assert!(host_allowed(&with_host(ok)), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "127.0.0.1.nip.io",
            "localhost.evil.example:80",
        ] {
            assert!(!host_allowed(&with_host(bad)), "{bad}");
        }
    }

    #[test]
    fn tokens_depend_on_the_session_and_the_secret() {
        let (a, b) = (Secret::random(), Secret::random());
        let s = new_session();
        assert_eq!(a.token(&s), a.token(&s));
        assert_ne!(a.token(&s), b.token(&s));
        assert_ne!(a.token(&s), a.token(&new_session()));
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let c = cookie(&new_session());
        let c = c.to_str().unwrap();
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&c.split(';').next().unwrap().replace(' ', "")).unwrap(),
        );
        assert!(session_of(&h).is_some());
    }
}
