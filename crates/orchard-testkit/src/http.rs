//! Hand-written HTTP/1.1 request parsing and response framing, shared by the
//! fake provider and the fake HTTP proxy.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A parsed request line and header block.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: String,
    pub target: String,
    pub version: String,
    /// Header names as sent (original case), values trimmed.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the body uses chunked transfer coding.
    pub fn is_chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }

    /// Declared `content-length`, if any.
    pub fn content_length(&self) -> io::Result<Option<usize>> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| invalid("bad content-length")),
        }
    }

    /// Whether a body follows the head.
    pub fn has_body(&self) -> bool {
        self.is_chunked() || matches!(self.content_length(), Ok(Some(n)) if n > 0)
    }

    /// `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.has_token("expect", "100-continue")
    }

    /// Whether the connection should close after this exchange.
    pub fn wants_close(&self) -> bool {
        if self.version.eq_ignore_ascii_case("HTTP/1.0") {
            return !self.has_token("connection", "keep-alive");
        }
        self.has_token("connection", "close")
    }
}

pub(crate) fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Reads more bytes into `buf`; errors on EOF.
async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.reserve(8192);
    if io.read_buf(buf).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-request",
        ));
    }
    Ok(())
}

/// Position just past the first empty line (`\r\n\r\n` or `\n\n`).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Position just past the first line ending (`\n`), if a full line is buffered.
fn line_end(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|b| *b == b'\n').map(|p| p + 1)
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads one request head. `Ok(None)` on a clean EOF before any byte
/// (leading empty lines are skipped, as RFC 9112 allows).
pub(crate) async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Head>> {
    loop {
        while buf.starts_with(b"\r\n") || buf.starts_with(b"\n") {
            let n = if buf.starts_with(b"\r\n") { 2 } else { 1 };
            buf.drain(..n);
        }
        if let Some(end) = head_end(buf) {
            let raw: Vec<u8> = buf.drain(..end).collect();
            return parse_head(&raw).map(Some);
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
        buf.reserve(8192);
        if io.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-head",
                ))
            };
        }
    }
}

fn parse_head(raw: &[u8]) -> io::Result<Head> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("bad request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("unsupported HTTP version"));
    }
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    })
}

/// A request body: decoded bytes and the exact bytes that carried them.
pub(crate) struct Body {
    pub decoded: Vec<u8>,
    pub raw: Vec<u8>,
}

/// Reads the body announced by `head` (chunked or `content-length`).
pub(crate) async fn read_body<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    head: &Head,
) -> io::Result<Body> {
    if head.is_chunked() {
        return read_chunked(io, buf).await;
    }
    let len = head.content_length()?.unwrap_or(0);
    if len > MAX_BODY {
        return Err(invalid("request body too large"));
    }
    while buf.len() < len {
        fill(io, buf).await?;
    }
    let decoded: Vec<u8> = buf.drain(..len).collect();
    Ok(Body {
        raw: decoded.clone(),
        decoded,
    })
}

async fn read_line<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    raw: &mut Vec<u8>,
) -> io::Result<Vec<u8>> {
    loop {
        if let Some(end) = line_end(buf) {
            let line: Vec<u8> = buf.drain(..end).collect();
            raw.extend_from_slice(&line);
            return Ok(trim_line(&line).to_vec());
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("chunk line too long"));
        }
        fill(io, buf).await?;
    }
}

async fn read_chunked<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> io::Result<Body> {
    let mut decoded = Vec::new();
    let mut raw = Vec::new();
    loop {
        let line = read_line(io, buf, &mut raw).await?;
        let line = String::from_utf8_lossy(&line);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailer section, up to the empty line.
            while !read_line(io, buf, &mut raw).await?.is_empty() {}
            return Ok(Body { decoded, raw });
        }
        if decoded.len() + size > MAX_BODY {
            return Err(invalid("request body too large"));
        }
        while buf.len() < size {
            fill(io, buf).await?;
        }
        let data: Vec<u8> = buf.drain(..size).collect();
        raw.extend_from_slice(&data);
        decoded.extend_from_slice(&data);
        if !read_line(io, buf, &mut raw).await?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// Reason phrase for a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Status line plus headers plus the blank line.
pub(crate) fn response_head(status: u16, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// One HTTP chunk: size line, data, CRLF.
pub(crate) fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Civil date `(year, month, day)` of a day count since 1970-01-01
/// (proleptic Gregorian).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// IMF-fixdate for the `date` header, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = civil(days);
    let weekday = DAYS[usize::try_from(days % 7).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// RFC 3339 UTC timestamp, e.g. `2023-08-04T19:22:45Z`, or with
/// `nanos > 0` the fraction as Go prints it (trailing zeros trimmed):
/// `2023-08-04T19:22:45.499127Z`.
pub(crate) fn rfc3339(secs: u64, nanos: u32) -> String {
    let (year, month, day) = civil(secs / 86_400);
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Seconds and nanoseconds since the Unix epoch.
pub(crate) fn now_with_nanos() -> (u64, u32) {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs(), d.subsec_nanos()))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(rfc3339(784_111_777, 0), "1994-11-06T08:49:37Z");
        assert_eq!(
            rfc3339(784_111_777, 499_127_000),
            "1994-11-06T08:49:37.499127Z"
        );
    }

    #[tokio::test]
    async fn parses_chunked_body_and_pipelined_rest() {
        let raw = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET /";
        let mut io: &[u8] = raw;
        let mut buf = Vec::new();
        let head = read_head(&mut io, &mut buf).await.unwrap().unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.header("transfer-encoding"), Some("chunked"));
        let body = read_body(&mut io, &mut buf, &head).await.unwrap();
        assert_eq!(body.decoded, b"abcde");
        assert_eq!(
            body.raw,
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
        );
        assert_eq!(buf, b"GET /");
    }
}
