//! No input makes `import` panic: truncated and garbled versions of every fixture give an
//! error (or, when the damage happens to leave a valid file, a result), never a panic.

use std::panic::catch_unwind;

use orchard_core::message::TopicArchive;
use orchard_interchange::{ImportError, export_json, import};
use serde_json::{Value, json};

const CHATGPT: &[u8] = include_bytes!("fixtures/chatgpt.json");
const CLAUDE: &[u8] = include_bytes!("fixtures/claude.json");

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let both: Vec<TopicArchive> = [CHATGPT, CLAUDE]
        .into_iter()
        .flat_map(|f| import(f).unwrap())
        .collect();
    vec![
        ("chatgpt", CHATGPT.to_vec()),
        ("claude", CLAUDE.to_vec()),
        ("orchard", export_json(&both).into_bytes()),
    ]
}

/// Imports `bytes`, turning a panic into a test failure that says which input did it.
fn try_import(what: &str, bytes: &[u8]) -> Result<Vec<TopicArchive>, ImportError> {
    catch_unwind(|| import(bytes)).unwrap_or_else(|_| panic!("import panicked on {what}"))
}

#[test]
fn truncated_files_are_errors() {
    for (name, bytes) in fixtures() {
        let full = String::from_utf8_lossy(&bytes).trim_end().len();
        // Every cut near the ends (where the structure closes), every fifth in between.
        let cuts = (0..full).filter(|c| *c < 64 || full - c < 64 || c % 5 == 0);
        for cut in cuts {
            let r = try_import(&format!("{name} cut at {cut}"), &bytes[..cut]);
            assert!(r.is_err(), "{name} cut at {cut} was accepted");
        }
    }
}

#[test]
fn garbled_bytes_are_errors_or_harmless() {
    for (name, bytes) in fixtures() {
        for at in (0..bytes.len()).step_by(11) {
            // An invalid UTF-8 byte anywhere is always an error.
            let mut b = bytes.clone();
            b[at] = 0xFF;
            assert!(try_import(&format!("{name} 0xFF at {at}"), &b).is_err());
            // Structural characters may or may not break the file; they must not panic.
            for c in [b'{', b']', b'"', b'0', b'\\', b' '] {
                let mut b = bytes.clone();
                b[at] = c;
                let _ = try_import(&format!("{name} {:?} at {at}", c as char), &b);
            }
        }
    }
}

/// Every path into a JSON value, as a list of keys and indexes.
fn paths(v: &Value, here: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(here.clone());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                here.push(json!(i));
                paths(item, here, out);
                here.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                here.push(json!(k));
                paths(item, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

#[test]
fn values_of_the_wrong_type_anywhere_are_errors_or_harmless() {
    let replacements = [
        json!(null),
        json!(0),
        json!(-1.5e300),
        json!(""),
        json!("zzz"),
        json!([]),
        json!({}),
        json!(true),
        json!([null]),
    ];
    for (name, bytes) in fixtures() {
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let mut all = Vec::new();
        paths(&original, &mut Vec::new(), &mut all);
        for path in &all {
            for r in &replacements {
                let mut v = original.clone();
                *at_mut(&mut v, path) = r.clone();
                let text = v.to_string();
                let _ = try_import(&format!("{name} with {path:?} = {r}"), text.as_bytes());
            }
            // And with the key or item removed altogether.
            if let Some((last, parent)) = path.split_last() {
                let mut v = original.clone();
                match (at_mut(&mut v, parent), last) {
                    (Value::Object(m), Value::String(k)) => {
                        m.remove(k);
                    }
                    (Value::Array(a), Value::Number(i)) => {
                        a.remove(i.as_u64().unwrap() as usize);
                    }
                    _ => {}
                }
                let text = v.to_string();
                let _ = try_import(&format!("{name} without {path:?}"), text.as_bytes());
            }
        }
    }
}
