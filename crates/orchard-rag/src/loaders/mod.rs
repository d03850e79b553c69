//! Turning a file's bytes into text: one entry point ([`load`]), one kind enum
//! ([`DocKind`]) and one error type ([`LoadError`]) for every format Orchard reads.
//!
//! Today that is plain text, Markdown, source code, PDF, HTML, Word (DOCX), CSV and JSON.
//! Adding a format means a variant in [`DocKind`], a branch in [`load`] and, where its
//! bytes say what it is, a signature in `kind::sniff`; callers keep calling [`load`].
//!
//! Structured formats come out as Markdown-like text, so whatever splits the text later
//! can follow the structure: headings as `#` lines, paragraphs, list items and table rows
//! as blocks separated by blank lines, and each CSV row or JSON record as one block.
//!
//! The file name only suggests the kind; the bytes decide where the two disagree in a way
//! that matters (a PDF without the extension is read as a PDF, a PNG named `.txt` is
//! refused as an image, a text file named `.pdf` is reported as not being a PDF).
//!
//! Every input is untrusted: nothing here panics on any bytes, and the limits in
//! [`Limits`] bound how much is read and how much text comes out.

mod delimited;
mod docx;
mod error;
mod html;
mod json;
mod kind;
mod pdf;
mod text;

pub use error::LoadError;

use kind::NameHint;

/// What a loaded file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DocKind {
    /// Plain text (also any file of an unknown type whose bytes are text).
    Text,
    /// Markdown (`.md`, `.markdown`, `.mdx`).
    Markdown,
    /// Source code or a configuration file.
    Code {
        /// The language, as a Markdown code-fence tag (`rust`, `python`, `yaml`, ...).
        language: &'static str,
    },
    /// A PDF's text layer.
    Pdf,
    /// A web page's main text (`.html`, `.htm`, `.xhtml`, or a page's bytes under a text
    /// name), without navigation, scripts and styles.
    Html,
    /// A Word document's body text (`.docx`, `.docm`).
    Docx,
    /// A table of comma- or tab-separated values (`.csv`, `.tsv`), one record per block.
    Csv,
    /// JSON or JSON Lines (`.json`, `.jsonl`, `.ndjson`), one `path: value` line per value.
    Json,
}

/// How much a load may read and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Files larger than this are refused with [`LoadError::TooLarge`] before any parsing.
    pub max_bytes: u64,
    /// Text longer than this many characters is cut there and marked
    /// [`Loaded::truncated`].
    pub max_chars: usize,
}

impl Limits {
    /// The default input limit: 20 MiB, the same as for image attachments.
    pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
    /// The default output limit: 2 million characters (several hundred pages).
    pub const DEFAULT_MAX_CHARS: usize = 2_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_chars: Self::DEFAULT_MAX_CHARS,
        }
    }
}

/// Where one PDF page's text lies in [`Loaded::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageSpan {
    /// The page number, starting at 1.
    pub page: u32,
    /// Byte offset of the page's first character in [`Loaded::text`].
    pub start: usize,
    /// Byte offset just past the page's last character (`start == end` for a page with
    /// no text).
    pub end: usize,
}

/// A file turned into text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loaded {
    /// What the file was read as.
    pub kind: DocKind,
    /// The text, with line endings normalised to `\n`.
    pub text: String,
    /// For PDFs, one span per page read, in page order; empty for other kinds.
    pub pages: Vec<PageSpan>,
    /// The character encoding the text was decoded from (`UTF-8`, `UTF-16LE`, `GBK`,
    /// `windows-1252`, ...); `None` for formats that carry their own (PDF, DOCX).
    pub encoding: Option<&'static str>,
    /// Whether the text was cut at [`Limits::max_chars`]; for a PDF, the pages after the
    /// cut are missing from [`Loaded::pages`].
    pub truncated: bool,
    /// The document's own title, where the format has one and it is set: an HTML page's
    /// `<title>`, a Word document's title property. `None` for other kinds.
    pub title: Option<String>,
}

impl Loaded {
    /// The text of one page (1-based) of a PDF, if that page was read.
    pub fn page_text(&self, page: u32) -> Option<&str> {
        let span = self.pages.iter().find(|span| span.page == page)?;
        self.text.get(span.start..span.end)
    }
}

/// The kinds [`load`] reads, for messages that tell a person what would work.
pub(crate) const READABLE: &str =
    "text, Markdown, code, PDF, Word (DOCX), HTML, CSV and JSON files";

/// Reads a file's bytes as text.
///
/// `name` is the file's name (a path is fine: only its last component is used); its
/// extension suggests the kind, and the bytes decide where the two disagree. Text is
/// decoded from a byte-order mark, else as UTF-8, else by detecting a legacy encoding
/// (GB18030/GBK, Shift_JIS, windows-1252, ...); an HTML page's `<meta charset>` comes
/// before the guess. PDFs yield their text layer page by page; HTML, DOCX, CSV and JSON
/// yield Markdown-like text (see the module documentation).
///
/// # Errors
///
/// [`LoadError`] says why, in words a person can act on: too large, empty, binary, an
/// unsupported type, a PDF or Word document that is encrypted or damaged, a scanned PDF
/// (no text layer), or JSON that does not parse (with the line and column).
pub fn load(name: &str, bytes: &[u8], limits: &Limits) -> Result<Loaded, LoadError> {
    // `usize` always fits in `u64` on the platforms Rust supports; saturate rather than
    // trust that.
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limits.max_bytes {
        return Err(LoadError::TooLarge {
            name: name.to_owned(),
            size,
            limit: limits.max_bytes,
            setting: None,
        });
    }
    if bytes.is_empty() {
        return Err(LoadError::Empty {
            name: name.to_owned(),
        });
    }

    let hint = kind::from_name(name);
    match kind::sniff(bytes, matches!(hint, NameHint::Pdf)) {
        Some(kind::Sniffed::Pdf) => return pdf::load(name, bytes, limits),
        // A Word document is a ZIP archive, and one with a password an OLE compound file;
        // under a Word name those signatures are the document itself. A ZIP with the
        // document's part in it is one whatever its name says.
        Some(kind::Sniffed::Other(_))
            if (matches!(hint, NameHint::Docx)
                && (bytes.starts_with(kind::ZIP_SIGNATURE)
                    || bytes.starts_with(kind::CFB_SIGNATURE)))
                || (matches!(hint, NameHint::Text) && kind::looks_like_docx(bytes)) =>
        {
            return docx::load(name, bytes, limits);
        }
        Some(kind::Sniffed::Other(format)) => {
            // The name can be more precise than the bytes (a ZIP named `.docx` is a Word
            // document), so it wins when it names an unsupported format too.
            let format = match hint {
                NameHint::Unsupported(named) => named,
                _ => format,
            };
            return Err(LoadError::Unsupported {
                name: name.to_owned(),
                format,
            });
        }
        None => {}
    }

    let kind = match hint {
        NameHint::Pdf => {
            return Err(LoadError::PdfCorrupt {
                name: name.to_owned(),
                reason: "it does not start with a PDF header, so it is probably another kind \
                         of file saved with a .pdf name"
                    .to_owned(),
            });
        }
        NameHint::Unsupported(format) => {
            return Err(LoadError::Unsupported {
                name: name.to_owned(),
                format,
            });
        }
        NameHint::Docx => return docx::load(name, bytes, limits),
        NameHint::Html => return html::load(name, bytes, limits),
        NameHint::Csv(delimiter) => return delimited::load(name, bytes, delimiter, limits),
        NameHint::Json => return json::load(name, bytes, limits),
        NameHint::Text if kind::looks_like_html(bytes) => return html::load(name, bytes, limits),
        NameHint::Text => DocKind::Text,
        NameHint::Markdown => DocKind::Markdown,
        NameHint::Code(language) => DocKind::Code { language },
    };

    let decoded = decode_text(name, bytes)?;
    let mut text = decoded.text;
    let truncated = truncate_chars(&mut text, limits.max_chars);
    Ok(Loaded {
        kind,
        text,
        pages: Vec::new(),
        encoding: Some(decoded.encoding),
        truncated,
        title: None,
    })
}

/// Decodes a text format's bytes, refusing binary files and files with only whitespace.
fn decode_text(name: &str, bytes: &[u8]) -> Result<text::Decoded, LoadError> {
    let Some(decoded) = text::decode(bytes) else {
        return Err(LoadError::Binary {
            name: name.to_owned(),
        });
    };
    if decoded.text.trim().is_empty() {
        return Err(LoadError::Empty {
            name: name.to_owned(),
        });
    }
    Ok(decoded)
}

/// Whether text built so far is surely longer than `max_chars` characters, so a loader
/// can stop early; cheap, because no character takes more than four bytes.
fn surely_longer(text: &str, max_chars: usize) -> bool {
    text.len() / 4 > max_chars
}

/// Finishes text that a structured loader (HTML, DOCX, CSV, JSON) built: trims it, cuts
/// it at [`Limits::max_chars`], and refuses it when nothing is left.
fn finish_text(name: &str, mut text: String, limits: &Limits) -> Result<(String, bool), LoadError> {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    if text.is_empty() {
        return Err(LoadError::Empty {
            name: name.to_owned(),
        });
    }
    let truncated = truncate_chars(&mut text, limits.max_chars);
    if truncated {
        // A cut can end on whitespace; keep the text trimmed.
        let end = text.trim_end().len();
        text.truncate(end);
    }
    Ok((text, truncated))
}

/// Cuts `text` after `max_chars` characters; says whether it cut anything.
pub(crate) fn truncate_chars(text: &mut String, max_chars: usize) -> bool {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => {
            text.truncate(at);
            true
        }
        None => false,
    }
}

/// Formats a loaded file for inclusion in a chat message.
///
/// A header line names the file; code goes in a fenced block tagged with its language,
/// text and Markdown follow as they are, and a PDF's pages are marked `[page N]` (pages
/// without text are left out). A note at the end says when the text was cut short.
pub fn as_attachment_text(name: &str, loaded: &Loaded) -> String {
    // The name comes from outside; a newline in it could fake a line of the message.
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = format!("Attached file: {name}\n\n");
    match loaded.kind {
        DocKind::Code { language } => {
            let fence = fence_for(&loaded.text);
            out.push_str(&fence);
            out.push_str(language);
            out.push('\n');
            out.push_str(loaded.text.trim_end_matches('\n'));
            out.push('\n');
            out.push_str(&fence);
        }
        DocKind::Pdf if !loaded.pages.is_empty() => {
            let mut first = true;
            for span in &loaded.pages {
                let page = loaded.text.get(span.start..span.end).unwrap_or_default();
                if page.trim().is_empty() {
                    continue;
                }
                if !first {
                    out.push_str("\n\n");
                }
                first = false;
                out.push_str(&format!("[page {}]\n", span.page));
                out.push_str(page);
            }
        }
        _ => out.push_str(loaded.text.trim_end_matches('\n')),
    }
    if loaded.truncated {
        out.push_str("\n\n[the file is longer than this; the rest was left out]");
    }
    out
}

/// A code fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_not_bytes() {
        let mut text = "héllo wörld".to_owned();
        assert!(truncate_chars(&mut text, 4));
        assert_eq!(text, "héll");
        let mut short = "abc".to_owned();
        assert!(!truncate_chars(&mut short, 3));
        assert_eq!(short, "abc");
    }

    #[test]
    fn fence_outgrows_backticks_in_the_text() {
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ``` b"), "````");
        assert_eq!(fence_for("`````"), "``````");
    }
}
