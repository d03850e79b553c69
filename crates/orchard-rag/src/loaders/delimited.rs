//! A table of comma- or tab-separated values (CSV, TSV), one record per block.
//!
//! The first row names the columns; every later row becomes one line of `column: value`
//! pairs, `name: Alice; city: Paris`, with a blank line between rows, so whatever splits
//! the text later keeps each record whole and knows what each value is.

use csv::{ReaderBuilder, StringRecord};

use super::{DocKind, Limits, LoadError, Loaded};

/// How much of the first row delimiter detection looks at.
const DETECT_LEN: usize = 64 * 1024;

/// Between a record's pairs.
const PAIR_SEPARATOR: &str = "; ";

pub(super) fn load(
    name: &str,
    bytes: &[u8],
    delimiter: Option<u8>,
    limits: &Limits,
) -> Result<Loaded, LoadError> {
    let decoded = super::decode_text(name, bytes)?;
    let text = records(&decoded.text, delimiter, limits.max_chars);
    let (text, truncated) = super::finish_text(name, text, limits)?;
    Ok(Loaded {
        kind: DocKind::Csv,
        text,
        pages: Vec::new(),
        encoding: Some(decoded.encoding),
        truncated,
        title: None,
    })
}

/// The rows as blocks of `column: value` pairs.
fn records(text: &str, delimiter: Option<u8>, max_chars: usize) -> String {
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(text));
    let mut reader = ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        // Rows with more or fewer cells than the header are common and fine.
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut out = String::new();
    let mut record = StringRecord::new();
    // The input is valid UTF-8 and rows may be ragged, so reading cannot fail; should
    // it, the rows read so far are kept.
    while let Ok(true) = reader.read_record(&mut record) {
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let Some(names) = &header else {
            header = Some(column_names(&record));
            continue;
        };
        let pairs: Vec<String> = record
            .iter()
            .enumerate()
            .filter_map(|(i, field)| {
                let value = tidy(field);
                if value.is_empty() {
                    return None;
                }
                let name = names.get(i).cloned().unwrap_or_else(|| column(i));
                Some(format!("{name}: {value}"))
            })
            .collect();
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&pairs.join(PAIR_SEPARATOR));
        if super::surely_longer(&out, max_chars) {
            break;
        }
    }
    // A table with only its header row: the header is all there is to read.
    if out.is_empty()
        && let Some(names) = header
    {
        out = names.join(PAIR_SEPARATOR);
    }
    out
}

/// The header row's names; a blank one is called by its position.
fn column_names(record: &StringRecord) -> Vec<String> {
    record
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let name = tidy(field).replace('\n', " ");
            if name.is_empty() { column(i) } else { name }
        })
        .collect()
}

fn column(index: usize) -> String {
    format!("column {}", index.saturating_add(1))
}

/// A value trimmed, with blank lines inside it dropped so the record stays one block.
fn tidy(field: &str) -> String {
    let field = field.trim();
    if !field.contains('\n') {
        return field.to_owned();
    }
    field
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The delimiter of a `.csv` file: the most frequent of comma, semicolon (spreadsheets in
/// locales with a decimal comma) and tab in the first row, outside quotes; comma on a tie.
fn detect_delimiter(text: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in text.as_bytes().iter().take(DETECT_LEN) {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some((_, count)) = counts.iter_mut().find(|(d, _)| *d == b) {
                    *count += 1;
                }
            }
            _ => {}
        }
    }
    // `max_by_key` keeps the last of equal counts; reversed, that is the first listed.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, count)| *count)
        .map_or(b',', |(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_records_with_their_header() {
        assert_eq!(
            records(
                "name,city\nAlice,Paris\nBob,\n,,\nCarol,Rome,extra\n",
                None,
                usize::MAX
            ),
            "name: Alice; city: Paris\n\nname: Bob\n\nname: Carol; city: Rome; column 3: extra"
        );
    }

    #[test]
    fn delimiters_are_detected() {
        assert_eq!(detect_delimiter("a,b,c\n1;2;3"), b',');
        assert_eq!(detect_delimiter("a;b;c\n"), b';');
        assert_eq!(detect_delimiter("a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter("\"x;y;z\",b\n"), b',');
        assert_eq!(detect_delimiter("single"), b',');
    }

    #[test]
    fn header_only_and_blank_names() {
        assert_eq!(records("a,,c\n", None, usize::MAX), "a; column 2; c");
        assert_eq!(records(",b\n1,2\n", None, usize::MAX), "column 1: 1; b: 2");
    }

    #[test]
    fn values_keep_single_line_breaks() {
        assert_eq!(tidy("  one\n\n\n two  \n"), "one\n two");
    }
}
