//! No input makes a loader panic: random bytes, damaged PDFs, Word documents, web pages,
//! tables and JSON, odd encodings, each under every kind of name. Deterministic (a fixed seed), so a failure can be replayed.

mod support;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use lopdf::dictionary;
use orchard_rag::loaders::{Limits, Loaded, as_attachment_text, load};
use support::{PdfBuilder, Rng, docx, image_ops, one_page, text_lines};

const NAMES: &[&str] = &[
    "notes.txt",
    "README.md",
    "main.rs",
    "script.py",
    "data.json",
    "events.jsonl",
    "page.html",
    "book.xhtml",
    "table.csv",
    "table.tsv",
    "report.pdf",
    "thesis.docx",
    "photo.png",
    "Dockerfile",
    "no_extension",
    ".hidden",
];

/// Panics anywhere in this binary, including ones a loader caught on purpose.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn seeds() -> Vec<Vec<u8>> {
    let mut three = PdfBuilder::new();
    three
        .page(text_lines(&["One.", "Uno."]))
        .page(text_lines(&["Two."]))
        .page(text_lines(&["Three."]));
    let mut form = PdfBuilder::new();
    let form_id = form.form(text_lines(&["Form text."]));
    form.page_with_xobjects(image_ops("Fm1"), dictionary! { "Fm1" => form_id });
    let mut fake_encrypted = PdfBuilder::new();
    fake_encrypted.page(text_lines(&["Secret."]));
    let mut encrypted = PdfBuilder::new();
    encrypted.page(text_lines(&["Secret."]));
    let mut restricted = PdfBuilder::new();
    restricted.page(text_lines(&["Readable."]));
    let mut compressed = PdfBuilder::new();
    compressed.page(text_lines(
        &["A line long enough to be worth compressing."; 20],
    ));
    let word = docx(
        r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Title</w:t></w:r></w:p>
        <w:tbl><w:tr><w:tc><w:p><w:r><w:t>a &amp; b</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
        <w:p><w:r><w:t>Body</w:t><w:tab/><w:br/></w:r></w:p>"#,
    );
    let page = "<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title></head><body>                <nav>n</nav><main><h1>H</h1><ul><li>a<li>b</ul><table><tr><td>1<td>2</table>                <pre><code class=language-rs>x\n  y</code></pre><svg><title>s</title></svg>                <blockquote>q<br>r</blockquote>&amp;&#x41;&nbsp;</main></body></html>";
    let csv = "name,city\n\"a, b\",\"x\ny\"\nc,d,e\n";
    let json = r#"{"a": [{"b": 1, "c": [true, null]}, 2.5], "d": {"e": "f\ng"}}"#;
    vec![
        word,
        page.as_bytes().to_vec(),
        csv.as_bytes().to_vec(),
        json.as_bytes().to_vec(),
        one_page(&["Hello.", "World."]),
        three.build(),
        form.build(),
        fake_encrypted.build_encrypted(),
        encrypted.build_with_passwords("user", "owner"),
        restricted.build_with_passwords("", "owner"),
        compressed.build_compressed(),
    ]
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    match rng.below(4) {
        // Flip a few bytes.
        0 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(bytes.len());
                if let Some(b) = bytes.get_mut(at) {
                    *b = rng.bytes(1)[0];
                }
            }
        }
        // Cut it short.
        1 => bytes.truncate(rng.below(bytes.len())),
        // Splice in noise.
        2 => {
            let at = rng.below(bytes.len());
            let len = rng.below(64);
            let noise = rng.bytes(len);
            bytes.splice(at..at, noise);
        }
        // Swap a digit, which moves offsets and lengths.
        _ => {
            let digits: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i].is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                let at = digits[rng.below(digits.len())];
                bytes[at] = b'0' + u8::try_from(rng.below(10)).unwrap_or(0);
            }
        }
    }
    bytes
}

fn inputs() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(0x5eed_0a7c_4a11_d0c5);
    let mut inputs = Vec::new();
    for _ in 0..60 {
        let len = rng.below(4096);
        inputs.push(rng.bytes(len));
    }
    for _ in 0..40 {
        // Mostly ASCII with some high bytes: what legacy-encoded text looks like.
        let len = rng.below(2048);
        let bytes = (0..len)
            .map(|_| {
                let b = rng.bytes(1)[0];
                if rng.below(8) == 0 {
                    b | 0x80
                } else {
                    0x20 + b % 0x5f
                }
            })
            .collect();
        inputs.push(bytes);
    }
    for prefix in [
        &b"%PDF-1.4\n"[..],
        b"\xff\xfe",
        b"\xfe\xff",
        b"\xef\xbb\xbf",
    ] {
        for _ in 0..10 {
            let mut bytes = prefix.to_vec();
            let len = rng.below(1024);
            bytes.extend(rng.bytes(len));
            inputs.push(bytes);
        }
    }
    // Structure taken to extremes: deep nesting, floods of stray end tags, elements that
    // never close.
    inputs.push(format!("<html>{}x", "<div><ul><li>".repeat(5000)).into_bytes());
    inputs.push(format!("<p>a{}b", "</span></div>".repeat(20_000)).into_bytes());
    inputs.push(b"<!doctype html><script>never closed <p>x".to_vec());
    inputs.push(b"<html><plaintext><p>all text".to_vec());
    inputs.push(b"<html><svg><script/><title/><![CDATA[x]]></svg><pre>".to_vec());
    inputs.push(format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
    inputs.push(format!("{}\"\"", "{\"a\":".repeat(10_000)).into_bytes());
    inputs.push(b"\"unterminated\n,,,\n\"\"\",\n".to_vec());
    let seeds = seeds();
    for seed in &seeds {
        for _ in 0..60 {
            inputs.push(mutate(&mut rng, seed));
        }
    }
    inputs.extend(seeds);
    inputs
}

#[test]
fn no_input_panics() {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let limit_sets = [
        Limits::default(),
        Limits {
            max_bytes: 512,
            max_chars: 7,
        },
        Limits {
            max_bytes: u64::MAX,
            max_chars: 0,
        },
    ];
    let inputs = inputs();
    let mut loaded_count = 0usize;
    for (i, bytes) in inputs.iter().enumerate() {
        for (j, name) in NAMES.iter().enumerate() {
            // Every input under every name, with the limits taking turns.
            let limits = &limit_sets[(i + j) % limit_sets.len()];
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                let result = load(name, bytes, limits);
                if let Ok(loaded) = &result {
                    check(name, loaded);
                    let _ = as_attachment_text(name, loaded);
                }
                result.map(|_| ()).map_err(|err| err.to_string())
            }));
            match result {
                Ok(Ok(())) => loaded_count += 1,
                Ok(Err(message)) => assert!(!message.is_empty()),
                Err(_) => panic!("input {i} named {name} panicked: {bytes:?}"),
            }
        }
    }
    assert!(loaded_count > 0, "some inputs should load");
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a loader panicked, even if it was caught"
    );
}

/// What every successful load promises.
fn check(name: &str, loaded: &Loaded) {
    for span in &loaded.pages {
        assert!(span.start <= span.end, "{name}: {span:?}");
        assert!(
            loaded.text.get(span.start..span.end).is_some(),
            "{name}: span {span:?} is not on character boundaries of the text"
        );
        assert!(span.page >= 1);
    }
    assert!(!loaded.text.contains("\r\n"), "{name}: CRLF left in");
}
