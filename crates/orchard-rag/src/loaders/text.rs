//! Bytes to text: byte-order mark, then UTF-8, then a detected legacy encoding; and the
//! check that refuses binary files.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;

/// How much of the start of a file the binary check looks at.
const SNIFF_LEN: usize = 8 * 1024;

/// How much the encoding detector reads; more rarely changes its guess and costs time.
const DETECT_LEN: usize = 1024 * 1024;

/// Text that decoded.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) text: String,
    pub(super) encoding: &'static str,
}

/// Decodes `bytes` as text with `\n` line endings, or `None` when they look binary.
pub(super) fn decode(bytes: &[u8]) -> Option<Decoded> {
    let (text, encoding) = if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        let (text, _) = encoding.decode_without_bom_handling(body);
        (text.into_owned(), encoding)
    } else {
        // Text has no NUL bytes; almost every binary format has many. (UTF-16 without a
        // byte-order mark is refused too; it is rare enough.)
        if bytes.iter().take(SNIFF_LEN).any(|&b| b == 0) {
            return None;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_owned(), encoding_rs::UTF_8),
            Err(_) if mostly_utf8(bytes) => (
                String::from_utf8_lossy(bytes).into_owned(),
                encoding_rs::UTF_8,
            ),
            Err(_) => {
                let encoding = detect(bytes);
                let (text, _) = encoding.decode_without_bom_handling(bytes);
                (text.into_owned(), encoding)
            }
        }
    };
    finish(text, encoding)
}

/// Decodes `bytes` in the encoding the file declares (an HTML page's `<meta charset>`),
/// with the same binary check as [`decode`]; a byte-order mark still wins, as in browsers.
pub(super) fn decode_declared(bytes: &[u8], declared: &'static Encoding) -> Option<Decoded> {
    if Encoding::for_bom(bytes).is_some() {
        return decode(bytes);
    }
    if bytes.iter().take(SNIFF_LEN).any(|&b| b == 0) {
        return None;
    }
    let (text, _) = declared.decode_without_bom_handling(bytes);
    finish(text.into_owned(), declared)
}

/// Refuses decoded text that is really binary, and normalises line endings.
fn finish(text: String, encoding: &'static Encoding) -> Option<Decoded> {
    if looks_binary(&text) {
        return None;
    }
    let text = if text.contains("\r\n") {
        text.replace("\r\n", "\n")
    } else {
        text
    };
    Some(Decoded {
        text,
        encoding: encoding.name(),
    })
}

/// Whether invalid UTF-8 is still UTF-8 with a few damaged bytes (a cut-off last
/// character, one stray byte), rather than a legacy encoding. Legacy encodings almost
/// never form valid multi-byte UTF-8 sequences by chance, so many valid sequences and
/// few errors mean UTF-8.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let mut valid_non_ascii = 0usize;
    let mut invalid = 0usize;
    for chunk in bytes.utf8_chunks() {
        valid_non_ascii += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            invalid += 1;
        }
    }
    valid_non_ascii > 0 && valid_non_ascii >= invalid.saturating_mul(4)
}

/// Guesses a legacy encoding the way browsers do for unlabelled pages.
fn detect(bytes: &[u8]) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    let sample = bytes.get(..DETECT_LEN).unwrap_or(bytes);
    detector.feed(sample, sample.len() == bytes.len());
    // No top-level domain to go by; `Deny` because valid UTF-8 never reaches here.
    detector.guess(None, Utf8Detection::Deny)
}

/// Whether decoded text is really binary: a NUL, or more than one character in twenty
/// being a control character or a decoding error, near the start.
fn looks_binary(text: &str) -> bool {
    let mut seen = 0usize;
    let mut odd = 0usize;
    for c in text.chars().take(SNIFF_LEN) {
        seen += 1;
        if c == '\0' {
            return true;
        }
        // Tabs, line breaks, form feeds and the escape that starts terminal colours are
        // ordinary in text files.
        let ordinary = matches!(c, '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1b}');
        if (c.is_control() && !ordinary) || c == char::REPLACEMENT_CHARACTER {
            odd += 1;
        }
    }
    odd.saturating_mul(20) > seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Decoded {
        decode(bytes).expect("text")
    }

    #[test]
    fn utf8_with_and_without_bom() {
        let plain = decoded("héllo\r\nwörld\r\n".as_bytes());
        assert_eq!(plain.text, "héllo\nwörld\n");
        assert_eq!(plain.encoding, "UTF-8");
        let bom = decoded("\u{feff}héllo".as_bytes());
        assert_eq!(bom.text, "héllo");
        assert_eq!(bom.encoding, "UTF-8");
    }

    #[test]
    fn utf16_boms() {
        let mut le = vec![0xff, 0xfe];
        le.extend("naïve 文本\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        let le = decoded(&le);
        assert_eq!(le.text, "naïve 文本\n");
        assert_eq!(le.encoding, "UTF-16LE");

        let mut be = vec![0xfe, 0xff];
        be.extend("naïve 文本".encode_utf16().flat_map(u16::to_be_bytes));
        let be = decoded(&be);
        assert_eq!(be.text, "naïve 文本");
        assert_eq!(be.encoding, "UTF-16BE");
    }

    #[test]
    fn utf8_with_a_cut_off_last_character_stays_utf8() {
        let mut bytes = "Grüße aus München, schöne Grüße".as_bytes().to_vec();
        bytes.extend_from_slice(&"ü".as_bytes()[..1]);
        let text = decoded(&bytes);
        assert_eq!(text.encoding, "UTF-8");
        assert!(text.text.starts_with("Grüße aus München"));
    }

    #[test]
    fn binary_is_refused() {
        assert!(decode(b"\x00\x01\x02\x03 header").is_none());
        assert!(decode(&[0x01, 0x02, 0x03, 0x04, b'a', b'b']).is_none());
        // A few odd characters in a long text are fine.
        let mut text = "ordinary words ".repeat(20).into_bytes();
        text.push(0x07);
        assert!(decode(&text).is_some());
        // Terminal colours are text.
        assert!(decode(b"\x1b[31mred\x1b[0m plain").is_some());
    }
}
