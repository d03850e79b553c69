//! Helpers to read rendered HTML back: its tags, and the text a person would see.

#![allow(dead_code)]

/// One start or end tag of the output.
#[derive(Debug)]
pub struct TagInfo {
    pub name: String,
    /// `</name>`.
    pub closing: bool,
    pub attrs: Vec<(String, String)>,
}

/// Splits rendered output into tags. Text never holds a literal `<` (it is escaped), so
/// every `<` starts a tag; quoted attribute values are skipped over as a browser would.
pub fn tags(html: &str) -> Vec<TagInfo> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = html[i..].find('<') {
        let start = i + p + 1;
        let mut j = start;
        let mut quote = None;
        while j < b.len() {
            match (quote, b[j]) {
                (None, b'"' | b'\'') => quote = Some(b[j]),
                (Some(q), c) if c == q => quote = None,
                (None, b'>') => break,
                _ => {}
            }
            j += 1;
        }
        out.push(parse_tag(&html[start..j]));
        i = (j + 1).min(html.len());
    }
    out
}

fn parse_tag(inner: &str) -> TagInfo {
    let inner = inner.trim_end_matches('/');
    let name_end = inner
        .find(|c: char| c.is_whitespace())
        .unwrap_or(inner.len());
    let name = inner[..name_end]
        .trim_start_matches('/')
        .to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut rest = inner[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            if let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let close = after[1..].find(q).map_or(after.len(), |p| p + 1);
                value = unescape(&after[1..close]);
                rest = after.get(close + 1..).unwrap_or("");
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                value = unescape(&after[..end]);
                rest = &after[end..];
            }
        }
        attrs.push((key, value));
        rest = rest.trim_start();
    }
    TagInfo {
        name,
        closing: inner.starts_with('/'),
        attrs,
    }
}

/// Decodes the entities the serialiser writes.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let Some(semi) = rest.find(';').filter(|&n| n < 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text a person sees: tags removed, entities decoded.
pub fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(p) = rest.find('<') {
        text.push_str(&rest[..p]);
        // Same quote-aware skip as `tags`.
        let b = rest.as_bytes();
        let mut j = p + 1;
        let mut quote = None;
        while j < b.len() {
            match (quote, b[j]) {
                (None, b'"' | b'\'') => quote = Some(b[j]),
                (Some(q), c) if c == q => quote = None,
                (None, b'>') => break,
                _ => {}
            }
            j += 1;
        }
        rest = rest.get(j + 1..).unwrap_or("");
    }
    text.push_str(rest);
    unescape(&text)
}
