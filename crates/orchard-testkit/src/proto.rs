//! The protocols the fake provider speaks, and what differs per protocol
//! outside the bodies: how the API key is sent, standard headers, ids.

use crate::http;
use crate::provider::RecordedRequest;

/// A wire protocol, chosen by request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// OpenAI Chat Completions, Responses, embeddings, models.
    OpenAi,
    /// Azure OpenAI (deployments and v1 paths).
    Azure,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini (Generative Language API).
    Gemini,
    /// Ollama's native API.
    Ollama,
}

fn bearer(req: &RecordedRequest) -> Option<String> {
    let v = req.header("authorization")?;
    let (scheme, key) = v.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_owned())
}

/// The value of `name` in a query string (no percent-decoding beyond `%xx`).
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Protocol {
    /// The API key the request carries, read the way this protocol sends
    /// it: `Authorization: Bearer` (OpenAI, Ollama), `x-api-key`
    /// (Anthropic), `x-goog-api-key` or `?key=` (Gemini), `api-key`, else
    /// a bearer token (Azure).
    pub fn key(self, req: &RecordedRequest) -> Option<String> {
        let nonempty = |v: &str| {
            let v = v.trim();
            (!v.is_empty()).then(|| v.to_owned())
        };
        match self {
            Protocol::OpenAi | Protocol::Ollama => bearer(req),
            Protocol::Anthropic => req.header("x-api-key").and_then(nonempty),
            Protocol::Gemini => req
                .header("x-goog-api-key")
                .and_then(nonempty)
                .or_else(|| query_param(req.query.as_deref(), "key").filter(|k| !k.is_empty())),
            Protocol::Azure => req
                .header("api-key")
                .and_then(nonempty)
                .or_else(|| bearer(req)),
        }
    }

    /// Standard response headers (before `connection`), `n` numbering the
    /// response.
    pub fn base_headers(self, n: u64) -> Vec<(String, String)> {
        let date = ("date".to_owned(), http::http_date(http::unix_now()));
        let h = |k: &str, v: String| (k.to_owned(), v);
        match self {
            Protocol::OpenAi => vec![
                date,
                h("x-request-id", format!("req_{n:032x}")),
                h("openai-version", "2020-10-01".to_owned()),
                h("openai-processing-ms", "1".to_owned()),
            ],
            Protocol::Azure => vec![
                date,
                h("apim-request-id", uuid(n)),
                h("x-request-id", uuid(n.wrapping_add(0x5eed))),
                h("x-ms-region", "East US".to_owned()),
                h("x-content-type-options", "nosniff".to_owned()),
            ],
            Protocol::Anthropic => vec![
                date,
                h("request-id", anthropic_request_id(n)),
                h("anthropic-organization-id", uuid(7)),
            ],
            Protocol::Gemini => vec![
                date,
                h("vary", "Origin, X-Origin, Referer".to_owned()),
                h("server", "scaffolding on HTTPServer2".to_owned()),
                h("x-xss-protection", "0".to_owned()),
                h("x-frame-options", "SAMEORIGIN".to_owned()),
                h("x-content-type-options", "nosniff".to_owned()),
            ],
            Protocol::Ollama => vec![date],
        }
    }

    /// `content-type` of a JSON body.
    pub fn json_type(self) -> &'static str {
        match self {
            Protocol::OpenAi | Protocol::Azure | Protocol::Anthropic => "application/json",
            Protocol::Gemini => "application/json; charset=UTF-8",
            Protocol::Ollama => "application/json; charset=utf-8",
        }
    }

    /// `content-type` of a streamed body.
    pub fn stream_type(self) -> &'static str {
        match self {
            Protocol::OpenAi | Protocol::Azure | Protocol::Anthropic => {
                "text/event-stream; charset=utf-8"
            }
            Protocol::Gemini => "text/event-stream",
            Protocol::Ollama => "application/x-ndjson",
        }
    }
}

/// A pseudo-random string of `len` characters from `alphabet`, seeded by `n`
/// and the clock, for ids.
pub(crate) fn random_chars(n: u64, len: usize, alphabet: &[u8]) -> String {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ http::unix_now() ^ 0x5151;
    (0..len)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            char::from(alphabet[usize::try_from(v >> 58).unwrap_or(0) % alphabet.len()])
        })
        .collect()
}

/// Base62 alphabet used by most ids.
pub(crate) const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `prefix` + `len` base62 characters.
pub(crate) fn id(prefix: &str, n: u64, len: usize) -> String {
    format!("{prefix}{}", random_chars(n, len, BASE62))
}

/// An Anthropic `req_011C...` request id.
pub(crate) fn anthropic_request_id(n: u64) -> String {
    format!("req_011C{}", random_chars(n, 20, BASE62))
}

/// A UUID-shaped id.
pub(crate) fn uuid(n: u64) -> String {
    let h = random_chars(n, 32, b"0123456789abcdef");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A display name made from a model id: `fake-small` -> `Fake Small`.
pub(crate) fn display_name(id: &str) -> String {
    id.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(
            query_param(Some("alt=sse&key=a%2Bb+c"), "key").as_deref(),
            Some("a+b c")
        );
        assert_eq!(query_param(Some("alt=sse"), "key"), None);
        assert_eq!(query_param(Some("flag"), "flag").as_deref(), Some(""));
        assert_eq!(query_param(None, "key"), None);
        assert_eq!(query_param(Some("k=%"), "k").as_deref(), Some("%"));
    }

    #[test]
    fn ids() {
        assert_eq!(uuid(3).len(), 36);
        assert!(anthropic_request_id(1).starts_with("req_011C"));
        assert_eq!(id("call_", 1, 24).len(), 29);
        assert_eq!(display_name("fake-small"), "Fake Small");
    }
}
