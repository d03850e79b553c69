//! Small helpers shared by the importers and exporters: times and code fences.

use orchard_core::Timestamp;

/// Seconds since the epoch (ChatGPT's float times) as a timestamp; `None` for values no
/// calendar can hold, so a garbled time becomes "unknown" instead of a wrapped number.
pub(crate) fn from_seconds(secs: f64) -> Option<Timestamp> {
    // ±10^11 s is about ±3,000 years around 1970: far beyond any real export.
    if !secs.is_finite() || secs.abs() > 1e11 {
        return None;
    }
    // In range by the check above, so the conversion is exact enough and cannot saturate.
    Some(Timestamp::from_millis((secs * 1000.0).round() as i64))
}

/// An ISO 8601 / RFC 3339 time ("2024-05-01T12:00:00.123456Z"). A time without an
/// offset is taken as UTC, which is what Claude's exports mean by it.
pub(crate) fn parse_iso(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(Timestamp::from_millis(ts.as_millisecond()));
    }
    let dt = s.parse::<jiff::civil::DateTime>().ok()?;
    let ts = jiff::tz::Offset::UTC.to_timestamp(dt).ok()?;
    Some(Timestamp::from_millis(ts.as_millisecond()))
}

/// A timestamp as "2024-05-01 12:00 UTC"; out-of-calendar values show as raw milliseconds.
pub(crate) fn format_utc(t: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(t.as_millis()) {
        Ok(ts) => {
            let dt = jiff::tz::Offset::UTC.to_datetime(ts);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute()
            )
        }
        Err(_) => format!("{} ms since 1970 UTC", t.as_millis()),
    }
}

/// `content` in a fenced code block whose fence is longer than any run of backticks
/// inside, so the content cannot close it early.
pub(crate) fn fenced(info: &str, content: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in content.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let body = content.strip_suffix('\n').unwrap_or(content);
    format!("{fence}{info}\n{body}\n{fence}")
}

/// A JSON value described in a few words, for "found …" in error messages.
pub(crate) fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "true or false".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Array(items) => match items.first() {
            None => "an empty array".to_owned(),
            Some(first) => format!("an array whose first item is {}", describe_item(first)),
        },
        Value::Object(map) => format!("a JSON object with {}", keys(map)),
    }
}

fn describe_item(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => format!("an object with {}", keys(map)),
        serde_json::Value::Array(_) => "an array".to_owned(),
        other => describe(other),
    }
}

fn keys(map: &serde_json::Map<String, serde_json::Value>) -> String {
    const SHOWN: usize = 6;
    if map.is_empty() {
        return "no keys".to_owned();
    }
    // Sorted, so the message does not depend on how the map keeps its keys.
    let mut sorted: Vec<&String> = map.keys().collect();
    sorted.sort_unstable();
    let mut names: Vec<String> = sorted
        .into_iter()
        .take(SHOWN)
        .map(|k| format!("\"{}\"", crate::error::short(k)))
        .collect();
    if map.len() > SHOWN {
        names.push("…".to_owned());
    }
    format!("keys {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_ways() {
        assert_eq!(
            from_seconds(1_714_564_800.123_4),
            Some(Timestamp::from_millis(1_714_564_800_123))
        );
        assert_eq!(from_seconds(f64::NAN), None);
        assert_eq!(from_seconds(1e300), None);
        let t = parse_iso("2024-05-01T12:00:00.123456Z").unwrap();
        assert_eq!(t.as_millis(), 1_714_564_800_123);
        assert_eq!(
            parse_iso("2024-05-01T14:00:00+02:00").unwrap().as_millis(),
            1_714_564_800_000
        );
        assert_eq!(
            parse_iso("2024-05-01T12:00:00").unwrap().as_millis(),
            1_714_564_800_000
        );
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(format_utc(t), "2024-05-01 12:00 UTC");
        assert_eq!(
            format_utc(Timestamp::from_millis(i64::MAX)),
            format!("{} ms since 1970 UTC", i64::MAX)
        );
    }

    #[test]
    fn fences_outgrow_the_backticks_inside() {
        assert_eq!(fenced("", "plain"), "```\nplain\n```");
        assert_eq!(fenced("rust", "a ```` b\n"), "`````rust\na ```` b\n`````");
    }
}
