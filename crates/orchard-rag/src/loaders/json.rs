//! JSON and JSON Lines as `path: value` lines.
//!
//! Every value that is not an object or an array becomes one line named by its path
//! (`user.address.city: Paris`, `items[3].name: Lamp`). Records stay together: the
//! elements of a top-level array, each value of a JSON Lines file, and the objects in the
//! first array of objects below the top are blocks separated by blank lines, so whatever
//! splits the text later keeps each record whole.

use std::fmt;

use serde::de::{Deserialize, MapAccess, SeqAccess, Visitor};
use serde_json::{Deserializer, Number};

use super::{DocKind, Limits, LoadError, Loaded};

pub(super) fn load(name: &str, bytes: &[u8], limits: &Limits) -> Result<Loaded, LoadError> {
    let decoded = super::decode_text(name, bytes)?;
    let text =
        lines(&decoded.text, limits.max_chars).map_err(|err| syntax(name, &decoded.text, &err))?;
    let (text, truncated) = super::finish_text(name, text, limits)?;
    Ok(Loaded {
        kind: DocKind::Json,
        text,
        pages: Vec::new(),
        encoding: Some(decoded.encoding),
        truncated,
        title: None,
    })
}

/// A JSON value that keeps its object's keys in the file's order (serde_json's own `Value`
/// sorts them unless a workspace-wide feature is turned on), which is the order a person
/// wrote the record in.
#[derive(Debug)]
enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // JSON has no infinities or NaN, so the parser never hands one over.
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Value::Object(entries))
    }
}

/// The `path: value` lines of every value in `text`: one for JSON, one a line for JSON
/// Lines (any run of values separated by whitespace reads the same way).
fn lines(text: &str, max_chars: usize) -> Result<String, serde_json::Error> {
    let mut out = Out {
        text: String::new(),
        blank: false,
        max_chars,
        full: false,
    };
    for value in Deserializer::from_str(text).into_iter::<Value>() {
        let value = value?;
        out.block();
        match &value {
            // A top-level array is a list of records.
            Value::Array(items) => {
                for item in items {
                    out.block();
                    walk(item, &mut String::new(), Split::No, &mut out);
                }
            }
            _ => walk(&value, &mut String::new(), Split::Yes, &mut out),
        }
        if out.full {
            break;
        }
    }
    Ok(out.text)
}

/// Whether the elements of the next array of objects or arrays become blocks: only at
/// the first such array on a path, so a record's own lists stay inside it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Split {
    Yes,
    No,
}

struct Out {
    text: String,
    /// A blank line is owed before the next line.
    blank: bool,
    max_chars: usize,
    /// Enough text is written.
    full: bool,
}

impl Out {
    fn block(&mut self) {
        self.blank = true;
    }

    fn line(&mut self, path: &str, value: &str) {
        if self.full {
            return;
        }
        if !self.text.is_empty() {
            self.text.push_str(if self.blank { "\n\n" } else { "\n" });
        }
        self.blank = false;
        if !path.is_empty() {
            self.text.push_str(path);
            self.text.push_str(": ");
        }
        self.text.push_str(value);
        self.full = super::surely_longer(&self.text, self.max_chars);
    }
}

/// Writes the lines of `value`, found at `path` (which is left as it was found).
fn walk(value: &Value, path: &mut String, split: Split, out: &mut Out) {
    if out.full {
        return;
    }
    let len = path.len();
    match value {
        Value::Object(map) if map.is_empty() => {
            if !path.is_empty() {
                out.line(path, "{}");
            }
        }
        Value::Array(items) if items.is_empty() => {
            if !path.is_empty() {
                out.line(path, "[]");
            }
        }
        Value::Object(entries) => {
            for (key, item) in entries {
                if !path.is_empty() {
                    path.push('.');
                }
                // A key with a line break in it would fake a line of its own.
                path.extend(key.chars().map(|c| if c.is_control() { ' ' } else { c }));
                walk(item, path, split, out);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            let records = split == Split::Yes
                && items
                    .iter()
                    .any(|item| matches!(item, Value::Object(_) | Value::Array(_)));
            let inner = if records { Split::No } else { split };
            for (i, item) in items.iter().enumerate() {
                if records {
                    out.block();
                }
                path.push_str(&format!("[{i}]"));
                walk(item, path, inner, out);
                path.truncate(len);
            }
            if records {
                out.block();
            }
        }
        Value::String(text) => out.line(path, &tidy(text)),
        Value::Null => out.line(path, "null"),
        Value::Bool(b) => out.line(path, if *b { "true" } else { "false" }),
        Value::Number(n) => out.line(path, &n.to_string()),
    }
}

/// A string value trimmed, with blank lines inside it dropped so its record stays one
/// block.
fn tidy(text: &str) -> String {
    let text = text.trim();
    if !text.contains(['\n', '\r']) {
        return text.to_owned();
    }
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// serde_json's error as a [`LoadError::Syntax`], with the column counted in characters
/// (serde_json counts bytes) and its wording made plainer.
fn syntax(name: &str, text: &str, err: &serde_json::Error) -> LoadError {
    let line = err.line();
    let column_bytes = err.column();
    let column = text
        .split('\n')
        .nth(line.saturating_sub(1))
        .map_or(column_bytes, |line_text| {
            line_text
                .char_indices()
                .take_while(|(at, _)| *at < column_bytes)
                .count()
        })
        // An error found at a line break is reported at column 0.
        .max(1);
    let message = err.to_string();
    let message = message
        .strip_suffix(&format!(" at line {line} column {column_bytes}"))
        .unwrap_or(&message);
    let reason = match message.strip_prefix("EOF while parsing ") {
        Some(what) => format!("the file ends in the middle of {what}"),
        None => message.to_owned(),
    };
    LoadError::Syntax {
        name: name.to_owned(),
        format: "JSON",
        line,
        column,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> String {
        lines(json, usize::MAX).expect("valid JSON")
    }

    #[test]
    fn leaves_are_named_by_their_path() {
        assert_eq!(
            text(
                r#"{"user": {"name": "Ann", "tags": ["a", "b"], "age": 3, "ok": true, "x": null, "e": {}}}"#
            ),
            "user.name: Ann\nuser.tags[0]: a\nuser.tags[1]: b\nuser.age: 3\nuser.ok: true\nuser.x: null\nuser.e: {}"
        );
        assert_eq!(text("42"), "42");
        assert_eq!(text("{}"), "");
    }

    #[test]
    fn records_are_blocks() {
        assert_eq!(
            text(r#"[{"name": "Ann", "langs": [{"n": "fr"}]}, {"name": "Bob"}, 3]"#),
            "name: Ann\nlangs[0].n: fr\n\nname: Bob\n\n3"
        );
        assert_eq!(
            text(r#"{"title": "T", "users": [{"id": 1}, {"id": 2}], "n": 2}"#),
            "title: T\n\nusers[0].id: 1\n\nusers[1].id: 2\n\nn: 2"
        );
        assert_eq!(text("{\"a\": 1}\n{\"a\": 2}\n"), "a: 1\n\na: 2");
    }

    #[test]
    fn errors_say_where() {
        // The `x` is the 8th character but the 9th byte of its line.
        let bad = "{\n  \"é\": x\n}";
        let err = lines(bad, usize::MAX).expect_err("invalid");
        let LoadError::Syntax {
            line,
            column,
            reason,
            ..
        } = syntax("x.json", bad, &err)
        else {
            panic!("not a syntax error");
        };
        assert_eq!((line, column), (2, 8));
        assert_eq!(reason, "expected value");
        let err = lines("[1, 2", usize::MAX).expect_err("cut short");
        let LoadError::Syntax { reason, .. } = syntax("x.json", "[1, 2", &err) else {
            panic!("not a syntax error");
        };
        assert_eq!(reason, "the file ends in the middle of a list");
    }
}
