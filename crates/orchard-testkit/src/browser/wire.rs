//! The WebDriver wire: JSON over HTTP/1.1 on loopback, one connection per
//! command (`Connection: close`), bodies framed by `Content-Length`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::BrowserError;

/// Upper bound on one WebDriver command. Page loads and async scripts have
/// their own (shorter) WebDriver timeouts; this only catches a hung driver.
const COMMAND_DEADLINE: Duration = Duration::from_secs(90);

/// Largest response accepted (full-page screenshots are a few MB of base64).
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// HTTP method of a WebDriver command.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

fn request_bytes(addr: SocketAddr, method: Method, path: &str, body: Option<&Value>) -> Vec<u8> {
    // WebDriver wants a JSON body on every POST, `{}` when there is nothing to say.
    let body = match (method, body) {
        (_, Some(v)) => v.to_string(),
        (Method::Post, None) => "{}".to_owned(),
        _ => String::new(),
    };
    let mut out = format!(
        "{} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n",
        method.as_str()
    );
    if !body.is_empty() || matches!(method, Method::Post) {
        out.push_str("Content-Type: application/json; charset=utf-8\r\n");
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// Status and body of a complete response in `buf`, or `None` if more
/// bytes are needed. `eof` says the peer closed the connection.
fn parse_response(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if eof {
            Err(format!(
                "connection closed before a full response head ({} bytes)",
                buf.len()
            ))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad content-length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // chromedriver always sends Content-Length; say so if that changes.
            return Err(format!("unsupported transfer-encoding {value:?}"));
        }
    }
    let body = &buf[head_end + 4..];
    match length {
        Some(n) if body.len() >= n => Ok(Some((status, body[..n].to_vec()))),
        Some(n) if eof => Err(format!(
            "connection closed after {} of {n} body bytes",
            body.len()
        )),
        Some(_) => Ok(None),
        None if eof => Ok(Some((status, body.to_vec()))),
        None => Ok(None),
    }
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to chromedriver at {addr}: {e}"))?;
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("writing to chromedriver: {e}"))?;
    let mut buf = Vec::with_capacity(8192);
    loop {
        buf.reserve(64 * 1024);
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("reading from chromedriver: {e}"))?;
        if let Some(done) = parse_response(&buf, n == 0)? {
            return Ok(done);
        }
        if buf.len() > MAX_RESPONSE {
            return Err("response from chromedriver too large".to_owned());
        }
    }
}

/// An error reported by chromedriver, or a transport failure (`code: None`).
pub(crate) struct WireError {
    pub code: Option<String>,
    pub message: String,
}

/// `value` of a WebDriver success response, or its error.
fn decode(status: u16, body: &[u8]) -> Result<Value, WireError> {
    let parsed: Value = serde_json::from_slice(body).map_err(|e| WireError {
        code: None,
        message: format!(
            "HTTP {status} with a body that is not JSON ({e}): {}",
            super::excerpt(&String::from_utf8_lossy(body), 300)
        ),
    })?;
    let mut value = match parsed {
        Value::Object(mut map) => map.remove("value").unwrap_or(Value::Null),
        other => other,
    };
    let code = value
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if status >= 400 || code.is_some() {
        let message = value
            .get_mut("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        // chromedriver appends "(Session info: chrome=…)" and a native stack
        // trace; neither helps a test author.
        let message = message
            .split("\n  (Session info")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        return Err(WireError {
            code: Some(code.unwrap_or_else(|| format!("HTTP {status}"))),
            message,
        });
    }
    Ok(value)
}

/// Sends one command and returns its `value`.
pub(crate) async fn command(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, WireError> {
    let request = request_bytes(addr, method, path, body);
    let (status, body) = tokio::time::timeout(COMMAND_DEADLINE, exchange(addr, &request))
        .await
        .map_err(|_| WireError {
            code: None,
            message: format!("chromedriver did not answer within {COMMAND_DEADLINE:?}"),
        })?
        .map_err(|message| WireError {
            code: None,
            message,
        })?;
    decode(status, &body)
}

/// Blocking `DELETE` for use in `Drop`, where there is no executor to await
/// on. Loopback only and bounded by socket timeouts. Returns whether
/// chromedriver answered with success.
pub(crate) fn blocking_delete(addr: SocketAddr, path: &str, deadline: Duration) -> bool {
    let Ok(mut stream) = StdTcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    if stream.set_read_timeout(Some(deadline)).is_err()
        || stream.set_write_timeout(Some(deadline)).is_err()
    {
        return false;
    }
    if stream
        .write_all(&request_bytes(addr, Method::Delete, path, None))
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(_) => return false,
        };
        buf.extend_from_slice(&chunk[..n]);
        match parse_response(&buf, n == 0) {
            Ok(Some((status, body))) => return decode(status, &body).is_ok(),
            Ok(None) => {}
            Err(_) => return false,
        }
    }
}

impl WireError {
    /// A [`BrowserError`] that says what was being done.
    pub(crate) fn doing(self, doing: impl std::fmt::Display) -> BrowserError {
        let message = match &self.code {
            Some(code) if self.message.is_empty() => format!("{doing}: {code}"),
            Some(code) if self.message.starts_with(code.as_str()) => {
                format!("{doing}: {}", self.message)
            }
            Some(code) => format!("{doing}: {code}: {}", self.message),
            None => format!("{doing}: {}", self.message),
        };
        BrowserError {
            message,
            code: self.code,
        }
    }
}

/// The WebDriver capabilities Orchard's tests run with.
pub(crate) fn capabilities(binary: &str, args: &[String]) -> Value {
    json!({
        "capabilities": {
            "alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                // Fail a stuck page load or script long before the command deadline.
                "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 30_000},
                // A stray alert should fail the next command, not hang the test.
                "unhandledPromptBehavior": "dismiss and notify",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {"binary": binary, "args": args},
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_response_without_space_after_colon() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length:13\r\nContent-Type:application/json\r\n\r\n{\"value\":42}\n";
        let (status, body) = parse_response(raw, false).unwrap().unwrap();
        assert_eq!(status, 200);
        assert_eq!(decode(status, &body).ok(), Some(json!(42)));
        assert!(
            parse_response(&raw[..raw.len() - 3], false)
                .unwrap()
                .is_none()
        );
        assert!(parse_response(&raw[..raw.len() - 3], true).is_err());
    }

    #[test]
    fn error_keeps_code_and_drops_session_info() {
        let body = br##"{"value":{"error":"no such element","message":"no such element: Unable to locate element: {\"selector\":\"#x\"}\n  (Session info: chrome=156.0)","stacktrace":"#0 0x1"}}"##;
        let err = decode(404, body).err().unwrap().doing("finding `#x`");
        assert_eq!(err.webdriver_code(), Some("no such element"));
        assert_eq!(
            err.to_string(),
            "finding `#x`: no such element: Unable to locate element: {\"selector\":\"#x\"}"
        );
    }

    #[test]
    fn post_without_body_sends_empty_object() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let text = String::from_utf8(request_bytes(
            addr,
            Method::Post,
            "/session/a/refresh",
            None,
        ))
        .unwrap();
        assert!(text.starts_with("POST /session/a/refresh HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\n\r\n{}"));
        let get = String::from_utf8(request_bytes(addr, Method::Get, "/status", None)).unwrap();
        assert!(!get.contains("Content-Length"));
    }
}
