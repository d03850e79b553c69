//! A PDF's text layer, page by page.
//!
//! lopdf parses the file and decodes fonts; the walk over each page's content stream is
//! our own, because lopdf's `extract_text` breaks lines only at the end of a text object
//! and so runs the lines of most typeset documents together. Ours starts a new line when
//! the text position moves down, a space when it jumps right, and follows text drawn in
//! form XObjects.

use std::collections::{BTreeMap, HashSet};
use std::panic::{self, AssertUnwindSafe};

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Encoding, LoadOptions, Object, ObjectId};

use super::{DocKind, Limits, LoadError, Loaded, PageSpan};

/// The most any one stream may inflate to. Real page content is far smaller; this keeps a
/// small crafted file from taking gigabytes of memory.
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// How deeply form XObjects may nest, and how many one page may draw in all, so a crafted
/// file cannot make the walk exponential.
const MAX_FORM_DEPTH: usize = 8;
const MAX_FORMS_PER_PAGE: usize = 512;

/// A `TJ` gap wider than this (thousandths of an em, negative moves right) is a word
/// space rather than kerning; kerning pairs stay well under it.
const TJ_SPACE: f32 = -150.0;

/// Between pages in [`Loaded::text`].
const PAGE_BREAK: &str = "\n\n";

/// Why a PDF gave no text, before the file name is attached.
enum Problem {
    Encrypted,
    NoText,
    Corrupt(String),
}

pub(super) fn load(name: &str, bytes: &[u8], limits: &Limits) -> Result<Loaded, LoadError> {
    // lopdf is a large parser fed untrusted bytes; should it panic on some input, that
    // input is a damaged PDF to the person, not a crash of the chat.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| extract(bytes, limits.max_chars)))
        .unwrap_or_else(|_| {
            Err(Problem::Corrupt(
                "the PDF reader stopped at a part of it that it could not handle".to_owned(),
            ))
        });
    outcome.map_err(|problem| match problem {
        Problem::Encrypted => LoadError::PdfEncrypted {
            name: name.to_owned(),
        },
        Problem::NoText => LoadError::PdfNoText {
            name: name.to_owned(),
        },
        Problem::Corrupt(reason) => LoadError::PdfCorrupt {
            name: name.to_owned(),
            reason,
        },
    })
}

fn extract(bytes: &[u8], max_chars: usize) -> Result<Loaded, Problem> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_INFLATED),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(err) => {
            // A broken encryption dictionary can make loading fail outright; the
            // password is still what the person needs to deal with first.
            if is_encryption_error(&err) || contains(bytes, b"/Encrypt") {
                return Err(Problem::Encrypted);
            }
            return Err(Problem::Corrupt(plain_reason(&err)));
        }
    };
    // lopdf opens files encrypted with an empty user password (copy or print
    // restrictions only) and drops `/Encrypt`; one still there needs a password.
    if doc.trailer.has(b"Encrypt") {
        return Err(Problem::Encrypted);
    }

    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(Problem::Corrupt("it has no pages".to_owned()));
    }

    let mut text = String::new();
    let mut spans = Vec::with_capacity(pages.len());
    let mut chars = 0usize;
    let mut truncated = false;
    let mut any_text = false;
    let mut undecoded = false;
    let mut first_error = None;
    let mut pages_read = 0usize;

    for (&number, &page_id) in &pages {
        let page = match page_text(&doc, page_id) {
            Ok(page) => {
                pages_read += 1;
                page
            }
            Err(err) => {
                first_error.get_or_insert(err);
                PageText::default()
            }
        };
        undecoded |= page.undecoded;
        let mut page_text = page.text;
        if page_text.is_empty() {
            spans.push(PageSpan {
                page: number,
                start: text.len(),
                end: text.len(),
            });
            continue;
        }
        any_text = true;
        if !text.is_empty() {
            if chars + PAGE_BREAK.len() >= max_chars {
                truncated = true;
                break;
            }
            text.push_str(PAGE_BREAK);
            chars += PAGE_BREAK.len();
        }
        let room = max_chars.saturating_sub(chars);
        let cut = super::truncate_chars(&mut page_text, room);
        chars += page_text.chars().count();
        let start = text.len();
        text.push_str(&page_text);
        spans.push(PageSpan {
            page: number,
            start,
            end: text.len(),
        });
        if cut {
            truncated = true;
            break;
        }
    }

    if !any_text {
        if pages_read == 0
            && let Some(err) = first_error
        {
            return Err(Problem::Corrupt(plain_reason(&err)));
        }
        if undecoded {
            return Err(Problem::Corrupt(
                "its text uses font encodings that Orchard cannot decode".to_owned(),
            ));
        }
        return Err(Problem::NoText);
    }
    // A cut inside a page can end on whitespace; keep the spans inside the trimmed text.
    if truncated {
        let kept = text.trim_end().len();
        text.truncate(kept);
        for span in &mut spans {
            span.start = span.start.min(kept);
            span.end = span.end.min(kept);
        }
    }

    Ok(Loaded {
        kind: DocKind::Pdf,
        text,
        pages: spans,
        encoding: None,
        truncated,
        title: None,
    })
}

/// One page's text.
#[derive(Default)]
struct PageText {
    text: String,
    /// Some string it showed did not decode (an unknown font or encoding).
    undecoded: bool,
}

fn page_text(doc: &Document, page_id: ObjectId) -> lopdf::Result<PageText> {
    let content = doc.get_page_content_with_limit(page_id, MAX_INFLATED)?;
    let fonts = doc
        .get_page_fonts(page_id)
        .map(|fonts| encodings(doc, fonts))
        .unwrap_or_default();
    let (direct, referenced) = doc.get_page_resources(page_id)?;
    let mut resources: Vec<&Dictionary> = direct.into_iter().collect();
    resources.extend(
        referenced
            .into_iter()
            .filter_map(|id| doc.get_dictionary(id).ok()),
    );

    let mut walk = Walk {
        doc,
        out: String::new(),
        undecoded: false,
        forms_seen: 0,
        active_forms: HashSet::new(),
    };
    walk.run(&content, &fonts, &resources, 0);
    Ok(PageText {
        text: tidy(&walk.out),
        undecoded: walk.undecoded,
    })
}

/// Fonts by resource name, with the encoding that turns their bytes into text. A font
/// whose encoding cannot be read is left out; its text is skipped.
fn encodings<'a>(
    doc: &'a Document,
    fonts: BTreeMap<Vec<u8>, &'a Dictionary>,
) -> BTreeMap<Vec<u8>, Encoding<'a>> {
    fonts
        .into_iter()
        .filter_map(|(name, font)| {
            let encoding = font.get_font_encoding_with_limit(doc, MAX_INFLATED).ok()?;
            Some((name, encoding))
        })
        .collect()
}

/// The fonts of a form XObject's own `/Resources`.
fn form_fonts<'a>(doc: &'a Document, resources: &'a Dictionary) -> BTreeMap<Vec<u8>, Encoding<'a>> {
    let Some(font_dict) = deref_dict(doc, resources.get(b"Font").ok()) else {
        return BTreeMap::new();
    };
    let fonts = font_dict
        .iter()
        .filter_map(|(name, font)| Some((name.clone(), deref_dict(doc, Some(font))?)))
        .collect();
    encodings(doc, fonts)
}

fn deref_dict<'a>(doc: &'a Document, object: Option<&'a Object>) -> Option<&'a Dictionary> {
    let (_, object) = doc.dereference(object?).ok()?;
    object.as_dict().ok()
}

/// The walk over one page's content streams.
struct Walk<'a> {
    doc: &'a Document,
    out: String,
    /// Whether some string shown did not decode, which tells a page in an unknown
    /// encoding from a scan when no text comes out.
    undecoded: bool,
    forms_seen: usize,
    /// Forms being drawn right now, so one that draws itself is not followed.
    active_forms: HashSet<ObjectId>,
}

/// Where text is being placed, as far as line and word breaks need to know.
struct Position {
    /// The text line matrix `[a b c d e f]`.
    line: [f32; 6],
    /// The font size from `Tf`.
    font_size: f32,
    /// The leading from `TL`/`TD`, for `T*`.
    leading: f32,
    /// Where the last string was shown (`e`, `f` of the line matrix then).
    last_shown: Option<(f32, f32)>,
    /// Whether the position was set since the last string was shown.
    moved: bool,
}

impl Position {
    const IDENTITY: [f32; 6] = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

    fn new() -> Self {
        Self {
            line: Self::IDENTITY,
            font_size: 0.0,
            leading: 0.0,
            last_shown: None,
            moved: false,
        }
    }

    /// `Td`: move the start of the line by `(tx, ty)` in text space.
    fn translate(&mut self, tx: f32, ty: f32) {
        let [a, b, c, d, e, f] = self.line;
        self.line[4] = tx * a + ty * c + e;
        self.line[5] = tx * b + ty * d + f;
        self.moved = true;
    }

    /// Half the height of a line of text, in the units `e` and `f` are in: moves smaller
    /// than this (sub- and superscripts) stay on the line.
    fn line_tolerance(&self) -> f32 {
        let [_, _, c, d, _, _] = self.line;
        let scale = (c * c + d * d).sqrt();
        let height = (self.font_size.abs() * scale).max(1.0);
        if height.is_finite() {
            height / 2.0
        } else {
            1.0
        }
    }
}

impl<'a> Walk<'a> {
    fn run(
        &mut self,
        content: &[u8],
        fonts: &BTreeMap<Vec<u8>, Encoding<'a>>,
        resources: &[&'a Dictionary],
        depth: usize,
    ) {
        let mut pos = Position::new();
        let mut font: Option<&Encoding<'a>> = None;
        // Operations one at a time: a damaged stream still yields the text before the
        // damage.
        for op in Content::decode_iter(content) {
            let Ok(op) = op else { break };
            match op.operator.as_str() {
                "BT" => {
                    pos.line = Position::IDENTITY;
                    pos.moved = true;
                }
                "Tf" => {
                    font = op
                        .operands
                        .first()
                        .and_then(|name| name.as_name().ok())
                        .and_then(|name| fonts.get(name));
                    pos.font_size = number(&op, 1).unwrap_or(0.0);
                }
                "TL" => pos.leading = number(&op, 0).unwrap_or(0.0),
                "Td" | "TD" => {
                    let (tx, ty) = (number(&op, 0), number(&op, 1));
                    if let (Some(tx), Some(ty)) = (tx, ty) {
                        if op.operator == "TD" {
                            pos.leading = -ty;
                        }
                        pos.translate(tx, ty);
                    }
                }
                "Tm" => {
                    let values: Option<Vec<f32>> = (0..6).map(|i| number(&op, i)).collect();
                    if let Some(values) = values
                        && let Ok(line) = <[f32; 6]>::try_from(values)
                    {
                        pos.line = line;
                        pos.moved = true;
                    }
                }
                "T*" => self.next_line(&mut pos),
                "Tj" | "TJ" => self.show(&mut pos, font, &op.operands),
                "'" => {
                    self.next_line(&mut pos);
                    self.show(&mut pos, font, &op.operands);
                }
                "\"" => {
                    self.next_line(&mut pos);
                    self.show(&mut pos, font, op.operands.get(2..).unwrap_or_default());
                }
                "Do" => {
                    if let Some(name) = op.operands.first().and_then(|n| n.as_name().ok()) {
                        self.form(name, fonts, resources, depth);
                        // Whatever the form drew, the page's text goes on from a fresh line.
                        pos.last_shown = None;
                    }
                }
                _ => {}
            }
        }
    }

    fn next_line(&mut self, pos: &mut Position) {
        let leading = pos.leading;
        pos.translate(0.0, -leading);
        self.newline();
        // The break is already made; the next string should not make another.
        pos.last_shown = None;
    }

    /// Shows strings (`Tj`, or the array of `TJ`), first breaking the line or the word if
    /// the position moved since the last string.
    fn show(&mut self, pos: &mut Position, font: Option<&Encoding<'a>>, operands: &[Object]) {
        let Some(encoding) = font else {
            self.undecoded |= operands.iter().any(has_string);
            return;
        };
        let [_, _, _, _, x, y] = pos.line;
        if let Some((last_x, last_y)) = pos.last_shown {
            if (y - last_y).abs() > pos.line_tolerance() {
                self.newline();
            } else if pos.moved && x > last_x {
                self.space();
            }
        }
        for operand in operands {
            self.show_operand(encoding, operand);
        }
        pos.last_shown = Some((x, y));
        pos.moved = false;
    }

    fn show_operand(&mut self, encoding: &Encoding<'a>, operand: &Object) {
        match operand {
            // A string whose bytes the font cannot decode is skipped, not fatal.
            Object::String(bytes, _) => {
                let before = self.out.len();
                let decoded = encoding.write_to_string(bytes, &mut self.out).is_ok();
                if !bytes.is_empty() && (!decoded || self.out.len() == before) {
                    self.undecoded = true;
                }
            }
            Object::Array(items) => {
                for item in items {
                    if matches!(item, Object::String(..)) {
                        self.show_operand(encoding, item);
                    } else if item.as_float().is_ok_and(|gap| gap < TJ_SPACE) {
                        self.space();
                    }
                }
            }
            _ => {}
        }
    }

    /// Follows `Do` into a form XObject, which can hold text (stamps, headers, whole pages
    /// from some generators). Images are skipped.
    fn form(
        &mut self,
        name: &[u8],
        fonts: &BTreeMap<Vec<u8>, Encoding<'a>>,
        resources: &[&'a Dictionary],
        depth: usize,
    ) {
        if depth >= MAX_FORM_DEPTH || self.forms_seen >= MAX_FORMS_PER_PAGE {
            return;
        }
        let doc = self.doc;
        let Some(id) = resources.iter().find_map(|res| {
            let xobjects = deref_dict(doc, res.get(b"XObject").ok())?;
            xobjects.get(name).ok()?.as_reference().ok()
        }) else {
            return;
        };
        if self.active_forms.contains(&id) {
            return;
        }
        let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
            return;
        };
        if stream
            .dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .ok()
            .is_none_or(|subtype| subtype != b"Form")
        {
            return;
        }
        let Ok(content) = stream.decompressed_content_with_limit(MAX_INFLATED) else {
            return;
        };
        self.forms_seen += 1;

        // A form with its own resources uses its own fonts; one without inherits the page's.
        let own = deref_dict(doc, stream.dict.get(b"Resources").ok());
        let own_fonts;
        let (fonts, inner_resources): (&BTreeMap<Vec<u8>, Encoding<'a>>, Vec<&'a Dictionary>) =
            match own {
                Some(own) => {
                    own_fonts = form_fonts(doc, own);
                    (&own_fonts, vec![own])
                }
                None => (fonts, resources.to_vec()),
            };

        self.newline();
        self.active_forms.insert(id);
        self.run(&content, fonts, &inner_resources, depth + 1);
        self.active_forms.remove(&id);
        self.newline();
    }

    fn newline(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with(char::is_whitespace) {
            self.out.push(' ');
        }
    }
}

/// Whether a `Tj`/`TJ` operand holds any bytes to show.
fn has_string(operand: &Object) -> bool {
    match operand {
        Object::String(bytes, _) => !bytes.is_empty(),
        Object::Array(items) => items.iter().any(has_string),
        _ => false,
    }
}

/// Operand `index` as a number.
fn number(op: &Operation, index: usize) -> Option<f32> {
    op.operands
        .get(index)?
        .as_float()
        .ok()
        .filter(|n| n.is_finite())
}

/// Drops control characters some fonts map glyphs to, trailing spaces on lines and runs of
/// blank lines, and trims the page.
fn tidy(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank_lines = 0;
    for line in raw.split('\n') {
        let line: String = line
            .chars()
            .filter(|&c| c == '\t' || !c.is_control())
            .collect();
        let line = line.trim_end();
        if line.is_empty() {
            blank_lines += 1;
            if blank_lines > 1 {
                continue;
            }
        } else {
            blank_lines = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

fn is_encryption_error(err: &lopdf::Error) -> bool {
    matches!(
        err,
        lopdf::Error::Decryption(_)
            | lopdf::Error::InvalidPassword
            | lopdf::Error::UnsupportedSecurityHandler(_)
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// lopdf's error in words a person can follow.
fn plain_reason(err: &lopdf::Error) -> String {
    use lopdf::{DecompressError, Error, ParseError};
    match err {
        Error::Parse(ParseError::InvalidFileHeader) => {
            "it does not start with a valid PDF header".to_owned()
        }
        Error::Parse(ParseError::EndOfInput) => {
            "it ends too early; it may not have been downloaded or saved completely".to_owned()
        }
        Error::Parse(ParseError::InvalidTrailer | ParseError::InvalidXref)
        | Error::Xref(_)
        | Error::MissingXrefEntry
        | Error::InvalidOffset(_) => "its index of contents (the cross-reference table) is \
                                      damaged; the file may be incomplete or edited by hand"
            .to_owned(),
        Error::Decompress(DecompressError::MemoryLimitExceeded { .. }) => format!(
            "a part of it unpacks to more than {}, which is more than Orchard will read",
            super::error::human_size(MAX_INFLATED as u64)
        ),
        Error::Decompress(_) => "a compressed part of it is damaged".to_owned(),
        Error::ReferenceCycle(_) | Error::ReferenceLimit | Error::RecursionLimit => {
            "its structure loops back on itself".to_owned()
        }
        Error::ObjectNotFound(_) | Error::DictKey(_) => "a part it refers to is missing".to_owned(),
        Error::Unimplemented(_) => "it uses a PDF feature Orchard cannot read yet".to_owned(),
        other => format!("it is damaged ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_drops_noise() {
        assert_eq!(tidy("  a  \n\n\n\nb\u{0}c \n"), "a\n\nbc");
    }

    #[test]
    fn reasons_are_plain() {
        let reason = plain_reason(&lopdf::Error::Parse(lopdf::ParseError::InvalidFileHeader));
        assert_eq!(reason, "it does not start with a valid PDF header");
    }
}
