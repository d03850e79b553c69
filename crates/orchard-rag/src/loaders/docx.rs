//! A Word document's body text.
//!
//! A DOCX file is a ZIP archive of XML parts; the body is `word/document.xml`, read here
//! as a stream of XML events, never held whole. Paragraphs become blocks, paragraphs in a
//! heading style (`Heading1`..`Heading6`, `Title`, or a style `word/styles.xml` names so,
//! as localised Word versions do) become `#` lines, list paragraphs `- ` lines and table
//! rows `cell | cell` lines. What a compressed part may unpack to is bounded, so a small
//! crafted file (a "zip bomb") cannot keep the reader busy for long.

use std::collections::HashMap;
use std::io::{self, BufReader, Cursor, Read};
use std::panic::{self, AssertUnwindSafe};

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use zip::ZipArchive;
use zip::result::ZipError;

use super::error::human_size;
use super::kind::{CFB_SIGNATURE, ZIP_SIGNATURE};
use super::{DocKind, Limits, LoadError, Loaded};

/// What the errors call a DOCX file.
const FORMAT: &str = "a Word document (DOCX)";

/// Where Word keeps the body, and where the package says it is when it is elsewhere.
const MAIN_PART: &str = "word/document.xml";
const PACKAGE_RELS: &str = "_rels/.rels";
const STYLES_PART: &str = "word/styles.xml";
const CORE_PART: &str = "docProps/core.xml";

/// The body may unpack to ten times the file size limit, within these bounds: real
/// documents compress about that well, and past the cap only a crafted file remains.
const UNPACK_FACTOR: u64 = 10;
const MIN_UNPACKED: u64 = 1024 * 1024;
const MAX_UNPACKED: u64 = 256 * 1024 * 1024;

/// The most the small parts (styles, properties, relationships) may unpack to; past it
/// they are ignored, as they only add headings and the title.
const SIDE_PART_LIMIT: u64 = 4 * 1024 * 1024;

/// How many `basedOn` links a style's heading level is followed through.
const MAX_STYLE_CHAIN: usize = 8;

/// How deeply paragraphs (in text boxes) and tables (in cells) are tracked, and how many
/// cells a row keeps; deeper or further ones run into their surroundings. Far beyond real
/// documents, and it keeps a crafted one from growing memory with its size.
const MAX_NESTING: usize = 64;
const MAX_CELLS: usize = 1024;

/// Why a document gave no text, before the file name is attached.
enum Problem {
    Encrypted,
    Corrupt(String),
}

pub(super) fn load(name: &str, bytes: &[u8], limits: &Limits) -> Result<Loaded, LoadError> {
    if bytes.starts_with(CFB_SIGNATURE) {
        return Err(compound_file(name, bytes));
    }
    if !bytes.starts_with(ZIP_SIGNATURE) {
        return Err(corrupt(
            name,
            "it is not a ZIP package as Word documents are, so it is probably another kind \
             of file saved with a .docx name"
                .to_owned(),
        ));
    }
    let bound = unpack_bound(limits.max_bytes);
    // zip and quick-xml are fed untrusted bytes; should either panic on some input, that
    // input is a damaged document to the person, not a crash.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| extract(bytes, bound, limits)))
        .unwrap_or_else(|_| {
            Err(Problem::Corrupt(
                "the Word reader stopped at a part of it that it could not handle".to_owned(),
            ))
        });
    let (text, title) = outcome.map_err(|problem| match problem {
        Problem::Encrypted => LoadError::Encrypted {
            name: name.to_owned(),
            format: FORMAT,
        },
        Problem::Corrupt(reason) => corrupt(name, reason),
    })?;
    let (text, truncated) = super::finish_text(name, text, limits)?;
    Ok(Loaded {
        kind: DocKind::Docx,
        text,
        pages: Vec::new(),
        encoding: None,
        truncated,
        title,
    })
}

fn corrupt(name: &str, reason: String) -> LoadError {
    LoadError::Corrupt {
        name: name.to_owned(),
        format: FORMAT,
        reason,
    }
}

/// An OLE compound file named `.docx`. Word stores a document with a password as one
/// (the encrypted package inside it); an old `.doc` renamed is one too, with a
/// `WordDocument` stream instead. Stream names are UTF-16 in the file's directory.
fn compound_file(name: &str, bytes: &[u8]) -> LoadError {
    let word_97 = contains(bytes, &utf16("WordDocument"));
    if word_97 && !contains(bytes, &utf16("EncryptedPackage")) {
        return LoadError::Unsupported {
            name: name.to_owned(),
            format: "a Word 97-2003 document (DOC)",
        };
    }
    LoadError::Encrypted {
        name: name.to_owned(),
        format: FORMAT,
    }
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The most the body may unpack to for a given input limit.
fn unpack_bound(max_bytes: u64) -> u64 {
    max_bytes
        .saturating_mul(UNPACK_FACTOR)
        .clamp(MIN_UNPACKED, MAX_UNPACKED)
}

fn extract(bytes: &[u8], bound: u64, limits: &Limits) -> Result<(String, Option<String>), Problem> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|err| zip_problem(&err))?;
    // The small parts are optional: without them there are fewer headings, or no title.
    let styles = read_small_part(&mut archive, STYLES_PART)
        .map(|xml| heading_styles(&xml))
        .unwrap_or_default();
    let title = read_small_part(&mut archive, CORE_PART).and_then(|xml| core_title(&xml));
    let main = match archive.index_for_name(MAIN_PART) {
        Some(_) => MAIN_PART.to_owned(),
        // Word always writes `word/document.xml`; other writers may name it otherwise
        // and say so in the package relationships.
        None => read_small_part(&mut archive, PACKAGE_RELS)
            .and_then(|xml| main_part_from_rels(&xml))
            .ok_or_else(|| {
                Problem::Corrupt(
                    "it has no document text (word/document.xml), so it is a ZIP archive but \
                     not a Word document"
                        .to_owned(),
                )
            })?,
    };
    let part = archive.by_name(&main).map_err(|err| zip_problem(&err))?;
    let reader = Bounded::new(part, bound);
    let mut body = Body::new(&styles, limits.max_chars);
    match body.read(reader) {
        Ok(()) => Ok((body.out, title)),
        Err(ReadError::TooLarge) => Err(Problem::Corrupt(format!(
            "its document text unpacks to more than {}, more than Orchard will read; a file \
             that unpacks this much is damaged or built to overload a reader",
            human_size(bound)
        ))),
        Err(ReadError::Io) => Err(Problem::Corrupt(
            "a compressed part of it is damaged; it may not have been downloaded or saved \
             completely"
                .to_owned(),
        )),
        Err(ReadError::Xml) => Err(Problem::Corrupt(
            "its document text (word/document.xml) is not well-formed XML; the file is \
             damaged"
                .to_owned(),
        )),
    }
}

/// zip's error in words a person can follow.
fn zip_problem(err: &ZipError) -> Problem {
    match err {
        ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED) | ZipError::InvalidPassword => {
            Problem::Encrypted
        }
        ZipError::UnsupportedArchive(_) | ZipError::CompressionMethodNotSupported(_) => {
            Problem::Corrupt("it uses a kind of ZIP compression Orchard cannot read".to_owned())
        }
        ZipError::FileNotFound => Problem::Corrupt(
            "it has no document text (word/document.xml), so it is a ZIP archive but not a \
             Word document"
                .to_owned(),
        ),
        _ => Problem::Corrupt(
            "its ZIP structure is damaged; it may not have been downloaded or saved completely"
                .to_owned(),
        ),
    }
}

/// A small part's bytes, or `None` when it is missing, damaged or too large.
fn read_small_part<R: Read + io::Seek>(archive: &mut ZipArchive<R>, name: &str) -> Option<Vec<u8>> {
    let part = archive.by_name(name).ok()?;
    let mut reader = Bounded::new(part, SIDE_PART_LIMIT);
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// A reader that refuses to go past `left` bytes, and remembers that it did.
struct Bounded<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            left: limit,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the bound: the end of the part is fine, one byte more is not.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(io::Error::other("the part unpacks to more than the bound"));
        }
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let read = self.inner.read(buf.get_mut(..room).unwrap_or_default())?;
        self.left = self.left.saturating_sub(read as u64);
        Ok(read)
    }
}

/// Why reading the body stopped.
enum ReadError {
    TooLarge,
    Io,
    Xml,
}

/// A paragraph being read.
#[derive(Default)]
struct Paragraph {
    text: String,
    /// The heading level from its style or outline level.
    level: Option<usize>,
    /// Whether it is a list item (it has numbering).
    list: bool,
}

/// A table being read: the cells of the current row, and the cell being read.
#[derive(Default)]
struct Table {
    row: Vec<String>,
    cell: Option<String>,
}

/// The walk over `word/document.xml`.
struct Body<'a> {
    /// Heading level by paragraph style id.
    styles: &'a HashMap<String, usize>,
    max_chars: usize,
    out: String,
    /// Open paragraphs; a text box's paragraphs sit inside another paragraph.
    paragraphs: Vec<Paragraph>,
    tables: Vec<Table>,
    /// Paragraphs and tables opened past [`MAX_NESTING`], only counted.
    deep_paragraphs: usize,
    deep_tables: usize,
    /// Inside `<w:t>`, the only element whose text is document text.
    in_text: bool,
    /// Inside `<w:pPr>`, where `<w:tab>` is a tab stop, not a tab.
    in_properties: bool,
    /// How deep inside an element whose content is left out (`mc:Fallback` repeats the
    /// content of its `mc:Choice`).
    skipping: usize,
}

impl<'a> Body<'a> {
    fn new(styles: &'a HashMap<String, usize>, max_chars: usize) -> Self {
        Self {
            styles,
            max_chars,
            out: String::new(),
            paragraphs: Vec::new(),
            tables: Vec::new(),
            deep_paragraphs: 0,
            deep_tables: 0,
            in_text: false,
            in_properties: false,
            skipping: 0,
        }
    }

    fn read<R: Read>(&mut self, source: Bounded<R>) -> Result<(), ReadError> {
        let mut reader = Reader::from_reader(BufReader::new(source));
        let mut buf = Vec::new();
        loop {
            let event = match reader.read_event_into(&mut buf) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(_)) if reader.get_ref().get_ref().exceeded => {
                    return Err(ReadError::TooLarge);
                }
                Err(quick_xml::Error::Io(_)) => return Err(ReadError::Io),
                Err(_) => return Err(ReadError::Xml),
            };
            if self.skipping > 0 {
                match event {
                    Event::Start(_) => self.skipping += 1,
                    Event::End(_) => self.skipping -= 1,
                    Event::Eof => break,
                    _ => {}
                }
                buf.clear();
                continue;
            }
            match event {
                Event::Start(element) => self.start(&element, false),
                Event::Empty(element) => self.start(&element, true),
                Event::End(element) => self.end(element.local_name().as_ref()),
                Event::Text(text) if self.in_text => {
                    let text = text.xml10_content();
                    self.push_text(&text);
                }
                Event::GeneralRef(reference) if self.in_text => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => predefined_entity(&reference),
                        Err(_) => None,
                    };
                    if let Some(c) = resolved {
                        self.push_text(c.encode_utf8(&mut [0; 4]));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
            if super::surely_longer(&self.out, self.max_chars) {
                break;
            }
        }
        // A document cut off inside a paragraph still gives that paragraph.
        while let Some(paragraph) = self.paragraphs.pop() {
            self.finish_paragraph(paragraph);
        }
        Ok(())
    }

    fn start(&mut self, element: &BytesStart<'_>, empty: bool) {
        let name = element.local_name();
        match name.as_ref() {
            "p" if !empty => {
                if self.paragraphs.len() < MAX_NESTING {
                    self.paragraphs.push(Paragraph::default());
                } else {
                    self.deep_paragraphs += 1;
                }
            }
            "pPr" if !empty => self.in_properties = true,
            "pStyle" => {
                let style = value(element);
                if let (Some(style), Some(paragraph)) = (style, self.paragraphs.last_mut()) {
                    let level = self
                        .styles
                        .get(&style)
                        .copied()
                        .or_else(|| builtin_heading(&style));
                    if level.is_some() {
                        paragraph.level = level;
                    }
                }
            }
            "outlineLvl" => {
                let level = value(element).and_then(|v| outline_level(&v));
                if let (Some(level), Some(paragraph)) = (level, self.paragraphs.last_mut()) {
                    paragraph.level = Some(level);
                }
            }
            "numPr" => {
                if let Some(paragraph) = self.paragraphs.last_mut() {
                    paragraph.list = true;
                }
            }
            "t" if !empty => self.in_text = true,
            "tab" if !self.in_properties => self.push_text("\t"),
            "br" | "cr" => self.push_text("\n"),
            "noBreakHyphen" => self.push_text("-"),
            "tbl" if !empty => {
                if self.tables.len() < MAX_NESTING {
                    self.tables.push(Table::default());
                } else {
                    self.deep_tables += 1;
                }
            }
            "tr" if !empty => {
                if let Some(table) = self.tables.last_mut() {
                    table.row.clear();
                }
            }
            "tc" => {
                if let Some(table) = self.tables.last_mut()
                    && table.row.len() < MAX_CELLS
                {
                    if empty {
                        table.row.push(String::new());
                    } else {
                        table.cell = Some(String::new());
                    }
                }
            }
            "Fallback" if !empty => self.skipping = 1,
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        match name {
            "p" if self.deep_paragraphs > 0 => self.deep_paragraphs -= 1,
            "p" => {
                if let Some(paragraph) = self.paragraphs.pop() {
                    self.finish_paragraph(paragraph);
                }
            }
            "pPr" => self.in_properties = false,
            "t" => self.in_text = false,
            "tc" => {
                if let Some(table) = self.tables.last_mut()
                    && let Some(cell) = table.cell.take()
                {
                    table.row.push(cell);
                }
            }
            "tr" => {
                let row = self
                    .tables
                    .last_mut()
                    .map(|table| std::mem::take(&mut table.row))
                    .unwrap_or_default();
                if row.iter().any(|cell| !cell.trim().is_empty()) {
                    let cells: Vec<&str> = row.iter().map(|cell| cell.trim()).collect();
                    self.emit(&cells.join(" | "));
                }
            }
            "tbl" if self.deep_tables > 0 => self.deep_tables -= 1,
            "tbl" => {
                self.tables.pop();
            }
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some(paragraph) = self.paragraphs.last_mut()
            // One huge paragraph is cut like the whole text would be.
            && !super::surely_longer(&paragraph.text, self.max_chars)
        {
            paragraph.text.push_str(text);
        }
    }

    fn finish_paragraph(&mut self, paragraph: Paragraph) {
        let text = paragraph.text.trim();
        if text.is_empty() {
            return;
        }
        let in_cell = self.tables.iter().any(|table| table.cell.is_some());
        let line = match (paragraph.level, paragraph.list) {
            // In a table, a cell's paragraphs are parts of one line.
            _ if in_cell => text.to_owned(),
            (Some(level), _) => format!("{} {text}", "#".repeat(level)),
            (None, true) => format!("- {text}"),
            (None, false) => text.to_owned(),
        };
        self.emit(&line);
    }

    /// Adds a block: to the innermost open table cell (after a space), else to the text
    /// (after a blank line).
    fn emit(&mut self, block: &str) {
        if let Some(cell) = self
            .tables
            .iter_mut()
            .rev()
            .find_map(|table| table.cell.as_mut())
        {
            if !super::surely_longer(cell, self.max_chars) {
                if !cell.is_empty() {
                    cell.push(' ');
                }
                cell.push_str(block);
            }
            return;
        }
        if !self.out.is_empty() {
            self.out.push_str("\n\n");
        }
        self.out.push_str(block);
    }
}

/// The `w:val` attribute, whatever its prefix.
fn value(element: &BytesStart<'_>) -> Option<String> {
    element
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|attr| attr.key.local_name().as_ref() == "val")
        .and_then(|attr| {
            attr.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// A paragraph outline level (0 is the top) as a heading level; 9 is body text.
fn outline_level(value: &str) -> Option<usize> {
    let level = value.trim().parse::<usize>().ok()?;
    (level < 6).then_some(level + 1)
}

/// The heading level of Word's built-in style ids, when `word/styles.xml` says nothing.
fn builtin_heading(style: &str) -> Option<usize> {
    let lower = style.to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let digits = lower
        .strip_prefix("heading")?
        .trim_start_matches([' ', '-', '_']);
    let level = digits.parse::<usize>().ok()?;
    (1..=6).contains(&level).then_some(level)
}

/// The five entities XML defines.
fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Heading levels of the paragraph styles in `word/styles.xml`, by style id. A style is a
/// heading by its name (`heading 1`, `Title`: Word keeps the English names even in
/// localised versions, where the ids differ), its outline level, or the style it is based
/// on.
fn heading_styles(xml: &[u8]) -> HashMap<String, usize> {
    struct Style {
        level: Option<usize>,
        based_on: Option<String>,
    }
    let mut styles: HashMap<String, Style> = HashMap::new();
    let mut reader = Reader::from_reader(xml);
    let mut current: Option<(String, Style)> = None;
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        match &event {
            Event::Start(element) | Event::Empty(element) => {
                let name = element.local_name();
                match name.as_ref() {
                    "style" => {
                        let mut id = None;
                        let mut paragraph = false;
                        for attr in element.attributes().with_checks(false).flatten() {
                            let key = attr.key.local_name();
                            let value = attr.normalized_value(XmlVersion::Implicit1_0).ok();
                            match (key.as_ref(), value) {
                                ("styleId", Some(value)) => id = Some(value.into_owned()),
                                ("type", Some(value)) => paragraph = value == "paragraph",
                                _ => {}
                            }
                        }
                        current = id.filter(|_| paragraph).map(|id| {
                            let style = Style {
                                level: None,
                                based_on: None,
                            };
                            (id, style)
                        });
                    }
                    "name" => {
                        if let Some((_, style)) = &mut current
                            && let Some(name) = value(element)
                        {
                            style.level = style
                                .level
                                .or_else(|| builtin_heading(&name.replace(' ', "")));
                        }
                    }
                    "outlineLvl" => {
                        if let Some((_, style)) = &mut current {
                            style.level = value(element).and_then(|v| outline_level(&v));
                        }
                    }
                    "basedOn" => {
                        if let Some((_, style)) = &mut current {
                            style.based_on = value(element);
                        }
                    }
                    _ => {}
                }
            }
            Event::End(element) if element.local_name().as_ref() == "style" => {
                if let Some((id, style)) = current.take() {
                    styles.insert(id, style);
                }
            }
            _ => {}
        }
    }
    styles
        .keys()
        .filter_map(|id| {
            let mut style = styles.get(id)?;
            for _ in 0..MAX_STYLE_CHAIN {
                if let Some(level) = style.level {
                    return Some((id.clone(), level));
                }
                style = styles.get(style.based_on.as_deref()?)?;
            }
            None
        })
        .collect()
}

/// The title property in `docProps/core.xml` (`<dc:title>`).
fn core_title(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(element)) => in_title = element.local_name().as_ref() == "title",
            Ok(Event::Text(text)) if in_title => title.push_str(&text.xml10_content()),
            Ok(Event::GeneralRef(reference)) if in_title => {
                let c = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => predefined_entity(&reference),
                };
                title.extend(c);
            }
            Ok(Event::End(element)) if in_title && element.local_name().as_ref() == "title" => {
                break;
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// The main part's name from the package relationships (`_rels/.rels`).
fn main_part_from_rels(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(element) | Event::Empty(element))
                if element.local_name().as_ref() == "Relationship" =>
            {
                let mut target = None;
                let mut main = false;
                for attr in element.attributes().with_checks(false).flatten() {
                    let value = attr.normalized_value(XmlVersion::Implicit1_0).ok();
                    match (attr.key.local_name().as_ref(), value) {
                        ("Target", Some(value)) => target = Some(value.into_owned()),
                        ("Type", Some(value)) => main = value.ends_with("/officeDocument"),
                        _ => {}
                    }
                }
                if main && let Some(target) = target {
                    return Some(target.trim_start_matches('/').to_owned());
                }
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_scales_with_the_limit_within_caps() {
        assert_eq!(unpack_bound(0), MIN_UNPACKED);
        assert_eq!(unpack_bound(1024 * 1024), 10 * 1024 * 1024);
        assert_eq!(unpack_bound(u64::MAX), MAX_UNPACKED);
    }

    #[test]
    fn bounded_reader_allows_exactly_the_bound() {
        let mut exact = Bounded::new(&b"abcd"[..], 4);
        let mut out = Vec::new();
        assert!(exact.read_to_end(&mut out).is_ok());
        assert_eq!(out, b"abcd");

        let mut over = Bounded::new(&b"abcde"[..], 4);
        assert!(over.read_to_end(&mut Vec::new()).is_err());
        assert!(over.exceeded);
    }

    #[test]
    fn heading_styles_by_name_outline_and_base() {
        let xml = br#"<w:styles xmlns:w="x">
            <w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>
            <w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/></w:style>
            <w:style w:type="paragraph" w:styleId="Mine"><w:name w:val="Mine"/><w:basedOn w:val="berschrift1"/></w:style>
            <w:style w:type="paragraph" w:styleId="Outline"><w:name w:val="Outline"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
            <w:style w:type="paragraph" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
            <w:style w:type="character" w:styleId="Heading1Char"><w:name w:val="heading 1 Char"/></w:style>
        </w:styles>"#;
        let styles = heading_styles(xml);
        assert_eq!(styles.get("berschrift1"), Some(&1));
        assert_eq!(styles.get("Titel"), Some(&1));
        assert_eq!(styles.get("Mine"), Some(&1));
        assert_eq!(styles.get("Outline"), Some(&3));
        assert_eq!(styles.get("Normal"), None);
        assert_eq!(styles.get("Heading1Char"), None);
    }

    #[test]
    fn builtin_heading_ids() {
        assert_eq!(builtin_heading("Heading1"), Some(1));
        assert_eq!(builtin_heading("heading 6"), Some(6));
        assert_eq!(builtin_heading("Title"), Some(1));
        assert_eq!(builtin_heading("Heading7"), None);
        assert_eq!(builtin_heading("HeadingX"), None);
        assert_eq!(builtin_heading("Normal"), None);
    }

    #[test]
    fn core_title_and_rels() {
        let core = br#"<cp:coreProperties xmlns:dc="d"><dc:creator>Ann</dc:creator><dc:title>Q3 &amp; Q4 Plan</dc:title></cp:coreProperties>"#;
        assert_eq!(core_title(core).as_deref(), Some("Q3 & Q4 Plan"));
        assert_eq!(core_title(b"<x><dc:title/></x>"), None);
        let rels = br#"<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/word/document2.xml"/></Relationships>"#;
        assert_eq!(
            main_part_from_rels(rels).as_deref(),
            Some("word/document2.xml")
        );
    }
}
