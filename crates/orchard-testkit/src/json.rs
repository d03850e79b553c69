//! A tiny JSON value whose objects keep their field order, so every wire
//! shape is written with fields in the order the real APIs send them
//! (`serde_json::Value` sorts keys unless `preserve_order` is on).

use std::fmt::Write as _;

/// A JSON value with ordered object fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Str(String),
    /// Already-serialized, compact JSON, written verbatim.
    Raw(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

/// Builds a [`J::Obj`] with fields in the given order:
/// `obj! { "type": "ping", "index": 0u32 }`.
macro_rules! obj {
    ($($k:literal : $v:expr),* $(,)?) => {
        $crate::json::J::Obj(vec![$(($k, $crate::json::J::from($v))),*])
    };
}
pub(crate) use obj;

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_owned())
    }
}
impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}
impl From<&String> for J {
    fn from(s: &String) -> J {
        J::Str(s.clone())
    }
}
impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}
impl From<u32> for J {
    fn from(n: u32) -> J {
        J::UInt(u64::from(n))
    }
}
impl From<u64> for J {
    fn from(n: u64) -> J {
        J::UInt(n)
    }
}
impl From<usize> for J {
    fn from(n: usize) -> J {
        J::UInt(u64::try_from(n).unwrap_or(u64::MAX))
    }
}
impl From<i64> for J {
    fn from(n: i64) -> J {
        J::Int(n)
    }
}
impl From<f64> for J {
    fn from(n: f64) -> J {
        J::F64(n)
    }
}
impl From<Vec<J>> for J {
    fn from(items: Vec<J>) -> J {
        J::Arr(items)
    }
}
impl<T: Into<J>> From<Option<T>> for J {
    fn from(v: Option<T>) -> J {
        v.map_or(J::Null, Into::into)
    }
}

fn write_str(out: &mut String, s: &str) {
    // serde_json's escaping, so strings match what the OpenAI structs produce.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

fn write_scalar(value: &J, out: &mut String) -> bool {
    match value {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Int(n) => {
            let _ = write!(out, "{n}");
        }
        J::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        J::F32(f) => out.push_str(&serde_json::to_string(f).unwrap_or_else(|_| "null".into())),
        J::F64(f) => out.push_str(&serde_json::to_string(f).unwrap_or_else(|_| "null".into())),
        J::Str(s) => write_str(out, s),
        J::Raw(r) => out.push_str(r),
        J::Arr(_) | J::Obj(_) => return false,
    }
    true
}

impl J {
    /// Compact JSON, fields in order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        if write_scalar(self, out) {
            return;
        }
        match self {
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            _ => {}
        }
    }

    /// Pretty JSON the way Google's APIs print it: two-space indent,
    /// `"key": value`, no trailing newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    fn write_pretty(&self, out: &mut String, depth: usize) {
        if let J::Raw(raw) = self {
            pretty_raw(raw, depth, out);
            return;
        }
        if write_scalar(self, out) {
            return;
        }
        let pad = |out: &mut String, d: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(d));
        };
        match self {
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    item.write_pretty(out, depth + 1);
                }
                pad(out, depth);
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    write_str(out, k);
                    out.push_str(": ");
                    v.write_pretty(out, depth + 1);
                }
                pad(out, depth);
                out.push('}');
            }
            _ => {}
        }
    }
}

/// Re-indents compact JSON text the way [`J::pretty`] prints, starting at
/// `depth`.
fn pretty_raw(raw: &str, depth: usize, out: &mut String) {
    let pad = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(d));
    };
    let chars: Vec<char> = raw.chars().collect();
    let mut depth = depth;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.get(i) == Some(&close) {
                    out.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    pad(out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                pad(out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                pad(out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
}

/// `text` with the whitespace between tokens removed, if it is valid JSON.
pub(crate) fn minify(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    Some(out)
}

/// `text` as an embeddable JSON object: minified if it is a JSON object,
/// else `{}` (a tool call's arguments must be an object on most wires).
pub(crate) fn object_or_empty(text: &str) -> J {
    match minify(text) {
        Some(m) if m.starts_with('{') => J::Raw(m),
        _ => J::Raw("{}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_field_order_and_escapes() {
        let v = obj! { "z": 1u32, "a": "q\"\n", "m": J::Null, "arr": vec![J::from(true)] };
        assert_eq!(v.render(), r#"{"z":1,"a":"q\"\n","m":null,"arr":[true]}"#);
    }

    #[test]
    fn pretty_like_google() {
        let v = obj! { "error": obj! { "code": 400u32, "details": vec![obj! { "a": "b" }], "e": J::Arr(vec![]) } };
        assert_eq!(
            v.pretty(),
            "{\n  \"error\": {\n    \"code\": 400,\n    \"details\": [\n      {\n        \"a\": \"b\"\n      }\n    ],\n    \"e\": []\n  }\n}"
        );
    }

    #[test]
    fn pretty_reindents_raw_json() {
        let v = obj! { "args": J::Raw(r#"{"a":[1,{}],"b":"x,{y}:"}"#.to_owned()) };
        assert_eq!(
            v.pretty(),
            "{\n  \"args\": {\n    \"a\": [\n      1,\n      {}\n    ],\n    \"b\": \"x,{y}:\"\n  }\n}"
        );
    }

    #[test]
    fn minifies_outside_strings_only() {
        assert_eq!(
            minify("{ \"a b\" : [1, 2],\n \"c\": \"x \\\" y\" }").as_deref(),
            Some("{\"a b\":[1,2],\"c\":\"x \\\" y\"}")
        );
        assert_eq!(minify("{nope"), None);
        assert_eq!(object_or_empty("[1]").render(), "{}");
    }
}
