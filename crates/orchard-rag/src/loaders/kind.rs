//! What a file is: a guess from its name, and what its first bytes prove.

/// What a file's name suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameHint {
    Pdf,
    Html,
    Docx,
    /// CSV or TSV; the delimiter when the name fixes it (`.tsv`), else `None` to detect.
    Csv(Option<u8>),
    /// JSON, or JSON Lines (one value per line).
    Json,
    Markdown,
    Code(&'static str),
    /// Plain text, or a name that says nothing (no extension, an unknown one).
    Text,
    /// A format Orchard cannot read; the description goes into the error.
    Unsupported(&'static str),
}

/// What a file's first bytes prove, whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sniffed {
    Pdf,
    /// A binary format Orchard cannot read; the description goes into the error.
    Other(&'static str),
}

/// Extensions (lower case) of source code and configuration, with their code-fence tag.
const CODE: &[(&str, &str)] = &[
    ("rs", "rust"),
    ("py", "python"),
    ("pyi", "python"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("cjs", "javascript"),
    ("ts", "typescript"),
    ("mts", "typescript"),
    ("cts", "typescript"),
    ("tsx", "tsx"),
    ("jsx", "jsx"),
    ("go", "go"),
    ("java", "java"),
    ("c", "c"),
    ("h", "c"),
    ("cpp", "cpp"),
    ("cc", "cpp"),
    ("cxx", "cpp"),
    ("hpp", "cpp"),
    ("hh", "cpp"),
    ("hxx", "cpp"),
    ("cs", "csharp"),
    ("rb", "ruby"),
    ("php", "php"),
    ("swift", "swift"),
    ("kt", "kotlin"),
    ("kts", "kotlin"),
    ("scala", "scala"),
    ("sh", "sh"),
    ("bash", "bash"),
    ("zsh", "zsh"),
    ("sql", "sql"),
    ("css", "css"),
    ("scss", "scss"),
    ("yaml", "yaml"),
    ("yml", "yaml"),
    ("toml", "toml"),
    ("xml", "xml"),
    ("lua", "lua"),
    ("r", "r"),
    // `.m` is also MATLAB; Objective-C is the more common of the two.
    ("m", "objectivec"),
    ("pl", "perl"),
    ("hs", "haskell"),
    ("ex", "elixir"),
    ("exs", "elixir"),
    ("dart", "dart"),
    ("vue", "vue"),
    ("svelte", "svelte"),
    ("dockerfile", "dockerfile"),
    ("mk", "makefile"),
];

/// Whole file names (lower case) that are code without an extension.
const CODE_NAMES: &[(&str, &str)] = &[
    ("dockerfile", "dockerfile"),
    ("containerfile", "dockerfile"),
    ("makefile", "makefile"),
    ("gnumakefile", "makefile"),
];

const MARKDOWN: &[&str] = &["md", "markdown", "mdx"];

const HTML: &[&str] = &["html", "htm", "xhtml"];

/// Word documents; `.docm` is the same package with macros, which are not read.
const DOCX: &[&str] = &["docx", "docm"];

const JSON: &[&str] = &["json", "jsonl", "ndjson"];

/// Extensions of formats Orchard recognises but cannot read yet.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("doc", "a Word 97-2003 document (DOC)"),
    ("xlsx", "an Excel workbook (XLSX)"),
    ("xlsm", "an Excel workbook (XLSX)"),
    ("xls", "an Excel 97-2003 workbook (XLS)"),
    ("pptx", "a PowerPoint presentation (PPTX)"),
    ("ppt", "a PowerPoint 97-2003 presentation (PPT)"),
    ("odt", "an OpenDocument text (ODT)"),
    ("ods", "an OpenDocument spreadsheet (ODS)"),
    ("odp", "an OpenDocument presentation (ODP)"),
    ("epub", "an e-book (EPUB)"),
    ("png", "an image (PNG)"),
    ("jpg", "an image (JPEG)"),
    ("jpeg", "an image (JPEG)"),
    ("gif", "an image (GIF)"),
    ("webp", "an image (WebP)"),
    ("bmp", "an image (BMP)"),
    ("tif", "an image (TIFF)"),
    ("tiff", "an image (TIFF)"),
    ("heic", "an image (HEIC)"),
    ("ico", "an icon"),
    ("mp3", "an audio file"),
    ("wav", "an audio file"),
    ("flac", "an audio file"),
    ("ogg", "an audio file"),
    ("m4a", "an audio file"),
    ("mp4", "a video"),
    ("mov", "a video"),
    ("mkv", "a video"),
    ("webm", "a video"),
    ("avi", "a video"),
    ("zip", "a ZIP archive"),
    ("gz", "a gzip archive"),
    ("tgz", "a gzip archive"),
    ("tar", "a tar archive"),
    ("7z", "a 7-Zip archive"),
    ("rar", "a RAR archive"),
    ("exe", "a program"),
    ("dll", "a program library"),
    ("so", "a program library"),
    ("dylib", "a program library"),
    ("wasm", "a WebAssembly module"),
    ("class", "a compiled Java class"),
    ("jar", "a Java archive (JAR)"),
    ("sqlite", "a database (SQLite)"),
    ("db", "a database"),
    ("ttf", "a font"),
    ("otf", "a font"),
    ("woff", "a font"),
    ("woff2", "a font"),
];

/// The signature of OLE compound files: Office 97-2003 documents, and also Office 2007+
/// documents once a password is set (the encrypted package is stored inside one).
pub(super) const CFB_SIGNATURE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";

/// The signature of a ZIP archive's first entry; DOCX files are ZIP archives.
pub(super) const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";

/// How far into a file named like text its HTML markup may start (after a byte-order
/// mark, blank lines and comments are skipped).
const HTML_SNIFF_WINDOW: usize = 1024;

/// Signatures at the start of binary formats, with what to call them.
const SIGNATURES: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "an image (PNG)"),
    (b"\xff\xd8\xff", "an image (JPEG)"),
    (b"GIF87a", "an image (GIF)"),
    (b"GIF89a", "an image (GIF)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an Office 97-2003 document (DOC, XLS or PPT)",
    ),
    (b"SQLite format 3\0", "a database (SQLite)"),
    (b"\0asm", "a WebAssembly module"),
];

/// How far into a file named `.pdf` the header may start; readers accept junk before it.
const PDF_HEADER_WINDOW: usize = 1024;

/// The kind a file's name suggests.
pub(super) fn from_name(name: &str) -> NameHint {
    // Only the last path component counts; people paste paths from both kinds of system.
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    let lower = file.to_ascii_lowercase();

    if let Some((_, language)) = CODE_NAMES.iter().find(|(n, _)| *n == lower) {
        return NameHint::Code(language);
    }
    // `Dockerfile.dev`, `Makefile.am` and the like.
    for (prefix, language) in CODE_NAMES {
        if lower
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
        {
            return NameHint::Code(language);
        }
    }

    // A leading dot starts a hidden file's name (`.bashrc`), not an extension.
    let Some((stem, ext)) = lower.rsplit_once('.') else {
        return NameHint::Text;
    };
    if stem.is_empty() {
        return NameHint::Text;
    }
    if ext == "pdf" {
        return NameHint::Pdf;
    }
    if MARKDOWN.contains(&ext) {
        return NameHint::Markdown;
    }
    if HTML.contains(&ext) {
        return NameHint::Html;
    }
    if DOCX.contains(&ext) {
        return NameHint::Docx;
    }
    if JSON.contains(&ext) {
        return NameHint::Json;
    }
    match ext {
        "csv" => return NameHint::Csv(None),
        "tsv" | "tab" => return NameHint::Csv(Some(b'\t')),
        _ => {}
    }
    if let Some((_, language)) = CODE.iter().find(|(e, _)| *e == ext) {
        return NameHint::Code(language);
    }
    if let Some((_, format)) = UNSUPPORTED.iter().find(|(e, _)| *e == ext) {
        return NameHint::Unsupported(format);
    }
    NameHint::Text
}

/// What the bytes prove. A PDF header counts at the very start, or anywhere in the first
/// KB when the name says PDF (so a source file that mentions `%PDF-` stays text).
pub(super) fn sniff(bytes: &[u8], named_pdf: bool) -> Option<Sniffed> {
    if bytes.starts_with(b"%PDF-") {
        return Some(Sniffed::Pdf);
    }
    if named_pdf {
        let window = bytes.get(..PDF_HEADER_WINDOW).unwrap_or(bytes);
        if window.windows(5).any(|w| w == b"%PDF-") {
            return Some(Sniffed::Pdf);
        }
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Some(Sniffed::Other("an image (WebP)"));
    }
    SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, format)| Sniffed::Other(format))
}

/// Whether bytes of a file named like text (or not named at all) are an HTML page: a
/// doctype or an `<html>` tag first thing, after a byte-order mark, whitespace and
/// comments. Looser signs (`<p>`, `<div>`) are left alone: a text file may start with a
/// snippet of markup it is about.
pub(super) fn looks_like_html(bytes: &[u8]) -> bool {
    let mut rest = bytes.get(..HTML_SNIFF_WINDOW).unwrap_or(bytes);
    rest = rest.strip_prefix(b"\xef\xbb\xbf").unwrap_or(rest);
    loop {
        rest = rest.trim_ascii_start();
        if let Some(comment) = rest.strip_prefix(b"<!--") {
            match comment.windows(3).position(|w| w == b"-->") {
                Some(end) => rest = comment.get(end + 3..).unwrap_or_default(),
                None => return false,
            }
        } else if rest.starts_with(b"<?xml") {
            // XHTML's XML declaration.
            match rest.iter().position(|&b| b == b'>') {
                Some(end) => rest = rest.get(end + 1..).unwrap_or_default(),
                None => return false,
            }
        } else {
            break;
        }
    }
    starts_with_tag(rest, b"<!doctype") || starts_with_tag(rest, b"<html")
}

/// Whether `bytes` start with `tag` (ASCII case-insensitive) followed by the end of the
/// tag name.
fn starts_with_tag(bytes: &[u8], tag: &[u8]) -> bool {
    bytes
        .get(..tag.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(tag))
        && bytes
            .get(tag.len())
            .is_none_or(|&b| b == b'>' || b == b'/' || b.is_ascii_whitespace())
}

/// Whether a ZIP archive is a Word document: its entry names are stored in the clear, in
/// each entry's header and again in the directory at the end.
pub(super) fn looks_like_docx(bytes: &[u8]) -> bool {
    const PART: &[u8] = b"word/document.xml";
    bytes.starts_with(ZIP_SIGNATURE) && bytes.windows(PART.len()).any(|w| w == PART)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kinds() {
        assert_eq!(from_name("main.rs"), NameHint::Code("rust"));
        assert_eq!(from_name("App.TSX"), NameHint::Code("tsx"));
        assert_eq!(from_name("src/lib/Thing.kt"), NameHint::Code("kotlin"));
        assert_eq!(from_name(r"C:\work\script.PY"), NameHint::Code("python"));
        assert_eq!(from_name("Dockerfile"), NameHint::Code("dockerfile"));
        assert_eq!(from_name("Dockerfile.prod"), NameHint::Code("dockerfile"));
        assert_eq!(from_name("api.dockerfile"), NameHint::Code("dockerfile"));
        assert_eq!(from_name("Makefile"), NameHint::Code("makefile"));
        assert_eq!(from_name("analysis.R"), NameHint::Code("r"));
        assert_eq!(from_name("README.md"), NameHint::Markdown);
        assert_eq!(from_name("page.mdx"), NameHint::Markdown);
        assert_eq!(from_name("notes.txt"), NameHint::Text);
        assert_eq!(from_name("LICENSE"), NameHint::Text);
        assert_eq!(from_name(".bashrc"), NameHint::Text);
        assert_eq!(from_name("server.log"), NameHint::Text);
        assert_eq!(from_name("Report.PDF"), NameHint::Pdf);
        assert_eq!(from_name("thesis.docx"), NameHint::Docx);
        assert_eq!(from_name("macro.DOCM"), NameHint::Docx);
        assert_eq!(from_name("page.html"), NameHint::Html);
        assert_eq!(from_name("page.HTM"), NameHint::Html);
        assert_eq!(from_name("book.xhtml"), NameHint::Html);
        assert_eq!(from_name("people.csv"), NameHint::Csv(None));
        assert_eq!(from_name("people.tsv"), NameHint::Csv(Some(b'\t')));
        assert_eq!(from_name("data.json"), NameHint::Json);
        assert_eq!(from_name("log.jsonl"), NameHint::Json);
        assert_eq!(from_name("log.ndjson"), NameHint::Json);
        assert_eq!(
            from_name("old.doc"),
            NameHint::Unsupported("a Word 97-2003 document (DOC)")
        );
        assert_eq!(from_name(""), NameHint::Text);
        assert_eq!(from_name("trailing."), NameHint::Text);
    }

    #[test]
    fn every_listed_extension_is_recognised() {
        let listed = [
            "rs", "py", "js", "ts", "tsx", "jsx", "go", "java", "c", "h", "cpp", "hpp", "cs", "rb",
            "php", "swift", "kt", "scala", "sh", "bash", "zsh", "sql", "css", "scss", "yaml",
            "yml", "toml", "xml", "lua", "r", "m", "pl", "hs", "ex", "exs", "dart", "vue",
            "svelte",
        ];
        for ext in listed {
            assert!(
                matches!(from_name(&format!("file.{ext}")), NameHint::Code(_)),
                "{ext}"
            );
        }
    }

    #[test]
    fn bytes_prove_pdf_and_binary_formats() {
        assert_eq!(sniff(b"%PDF-1.7\n", false), Some(Sniffed::Pdf));
        assert_eq!(sniff(b"junk\n%PDF-1.4\n", true), Some(Sniffed::Pdf));
        // A text file that talks about PDFs is not one.
        assert_eq!(sniff(b"const HEADER = b\"%PDF-1.7\";", false), None);
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false),
            Some(Sniffed::Other("an image (PNG)"))
        );
        assert_eq!(
            sniff(b"RIFF\x10\0\0\0WEBPVP8 ", false),
            Some(Sniffed::Other("an image (WebP)"))
        );
        assert_eq!(sniff(b"RIFF", false), None);
        assert_eq!(sniff(b"hello", false), None);
        assert_eq!(sniff(b"", true), None);
    }

    #[test]
    fn html_is_sniffed_only_from_a_doctype_or_html_tag() {
        assert!(looks_like_html(b"<!DOCTYPE html><html><body>x"));
        assert!(looks_like_html(b"\xef\xbb\xbf\n  <html lang=\"en\">"));
        assert!(looks_like_html(b"<!-- saved page -->\n<HTML>"));
        assert!(looks_like_html(
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"x\">"
        ));
        assert!(!looks_like_html(b"<p>a snippet</p>"));
        assert!(!looks_like_html(b"<htmlish>"));
        assert!(!looks_like_html(b"Notes about <html> tags"));
        assert!(!looks_like_html(b"<!-- never closed"));
    }

    #[test]
    fn docx_is_a_zip_with_a_word_document_part() {
        assert!(looks_like_docx(b"PK\x03\x04....word/document.xml...."));
        assert!(!looks_like_docx(b"PK\x03\x04....xl/workbook.xml"));
        assert!(!looks_like_docx(b"word/document.xml"));
    }
}
