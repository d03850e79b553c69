//! A web page's main text, as Markdown-like blocks.
//!
//! html5ever's tokenizer reads the page as a stream of tags and text; no tree is built,
//! which keeps a whole book of pages fast to read. A small stack of open elements stands
//! in for the tree: enough to know where a skipped element (navigation, scripts, an mdBook
//! or rustdoc sidebar) ends, and where headings, list items, table cells and code blocks
//! are. When the page has a `<main>` or an `<article>`, only their text is kept.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

use encoding_rs::Encoding;
use html5ever::LocalName;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use super::{DocKind, Limits, LoadError, Loaded, text};

/// What the errors call an HTML file.
const FORMAT: &str = "an HTML page";

/// How far into the file a `<meta charset>` counts, as in browsers.
const META_WINDOW: usize = 1024;

/// The tokenizer is fed this much at a time; its buffers count in `u32`.
const FEED_CHUNK: usize = 1024 * 1024;

/// How far down the stack an end tag looks for its start tag. Deeper than any real page
/// needs; it keeps a flood of stray end tags from costing quadratic time.
const MATCH_WINDOW: usize = 256;

/// How deep the stack of open elements may grow. Past it elements are only counted, and
/// their text is left out: no real page nests this deep, and a crafted one cannot make
/// the stack grow with the input.
const MAX_DEPTH: usize = 4096;

/// The deepest list indentation and blockquote nesting written out, so deeply nested
/// markup cannot make every line of the text longer than the page.
const MAX_NESTING_SHOWN: usize = 8;

/// The longest title kept, in bytes.
const MAX_TITLE: usize = 1024;

pub(super) fn load(name: &str, bytes: &[u8], limits: &Limits) -> Result<Loaded, LoadError> {
    let decoded = match declared_charset(bytes) {
        Some(encoding) => text::decode_declared(bytes, encoding),
        None => text::decode(bytes),
    };
    let Some(decoded) = decoded else {
        return Err(LoadError::Binary {
            name: name.to_owned(),
        });
    };

    // html5ever is a large parser fed untrusted text; should it panic on some input, that
    // is a page Orchard cannot read, not a crash.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        main_text(&decoded.text, limits.max_chars)
    }));
    let Ok(page) = outcome else {
        return Err(LoadError::Corrupt {
            name: name.to_owned(),
            format: FORMAT,
            reason: "the HTML reader stopped at a part of it that it could not handle".to_owned(),
        });
    };
    let (text, truncated) = super::finish_text(name, page.text, limits)?;
    Ok(Loaded {
        kind: DocKind::Html,
        text,
        pages: Vec::new(),
        encoding: Some(decoded.encoding),
        truncated,
        title: page.title,
    })
}

/// A page's text and title.
struct Page {
    text: String,
    title: Option<String>,
}

/// The text of the page's `<main>` and `<article>` elements, or of the whole page when it
/// has none.
fn main_text(html: &str, max_chars: usize) -> Page {
    let main_only = has_main(html);
    let page = extract(html, main_only, max_chars);
    // `<main` may only have appeared in a script or a comment.
    if main_only && page.text.trim().is_empty() {
        return extract(html, false, max_chars);
    }
    page
}

fn extract(html: &str, main_only: bool, max_chars: usize) -> Page {
    let sink = Sink(RefCell::new(Walk::new(main_only, max_chars)));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let queue = BufferQueue::default();
    let mut rest = html;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_end(rest, FEED_CHUNK));
        queue.push_back(StrTendril::from_slice(chunk));
        // Only the sink could stop the tokenizer early (for a script), and ours never does.
        let _ = tokenizer.feed(&queue);
        rest = tail;
    }
    tokenizer.end();
    let Ok(mut walk) = tokenizer.sink.0.try_borrow_mut() else {
        return Page {
            text: String::new(),
            title: None,
        };
    };
    walk.finish()
}

/// Where to cut `text` so the first part is at most `max` bytes and ends on a character
/// boundary (always at least one character, so feeding makes progress).
fn chunk_end(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 {
        // Only reachable with `max` under four bytes; take one whole character.
        end = text.chars().next().map_or(text.len(), char::len_utf8);
    }
    end
}

/// The encoding a `<meta charset>` or `<meta http-equiv="Content-Type">` near the start
/// declares, if any that encoding_rs knows.
fn declared_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let window = bytes
        .get(..META_WINDOW)
        .unwrap_or(bytes)
        .to_ascii_lowercase();
    let mut rest = window.as_slice();
    while let Some(at) = find(rest, b"<meta") {
        let tag = rest.get(at..).unwrap_or_default();
        let end = tag.iter().position(|&b| b == b'>').unwrap_or(tag.len());
        let tag_text = tag.get(..end).unwrap_or_default();
        if let Some(encoding) = charset_in(tag_text) {
            // A page that says UTF-16 but was read as bytes is ASCII-compatible after all;
            // browsers take it as UTF-8.
            if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
                return Some(encoding_rs::UTF_8);
            }
            return Some(encoding);
        }
        rest = tag.get(end..).unwrap_or_default();
    }
    None
}

/// The encoding named by `charset=` inside one (lower-cased) meta tag.
fn charset_in(tag: &[u8]) -> Option<&'static Encoding> {
    let at = find(tag, b"charset")?;
    let rest = tag.get(at + b"charset".len()..)?.trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    let rest = rest.strip_prefix(b"'").unwrap_or(rest);
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'"' | b'\'' | b';' | b'/' | b'>') || b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    Encoding::for_label(rest.get(..end)?)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether the page has a `<main>` or an `<article>` start tag (or seems to: one in a
/// script counts too, which the caller allows for).
fn has_main(html: &str) -> bool {
    html.match_indices('<').any(|(at, _)| {
        let rest = html.as_bytes().get(at + 1..).unwrap_or_default();
        [&b"main"[..], b"article"].iter().any(|tag| {
            rest.get(..tag.len())
                .is_some_and(|name| name.eq_ignore_ascii_case(tag))
                && rest
                    .get(tag.len())
                    .is_none_or(|&b| b == b'>' || b == b'/' || b.is_ascii_whitespace())
        })
    })
}

/// Elements whose content is never the page's text: code, styling, media, controls and
/// navigation.
fn skipped_element(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "svg"
            | "nav"
            | "aside"
            | "form"
            | "button"
            | "select"
            | "textarea"
            | "iframe"
            | "object"
            | "canvas"
            | "audio"
            | "video"
            | "map"
            | "datalist"
            // rustdoc's custom elements for its toolbar and mobile top bar.
            | "rustdoc-toolbar"
            | "rustdoc-topbar"
    )
}

/// ARIA roles of page chrome.
fn skipped_role(role: &str) -> bool {
    matches!(
        role.trim().to_ascii_lowercase().as_str(),
        "navigation"
            | "banner"
            | "contentinfo"
            | "search"
            | "complementary"
            | "menu"
            | "menubar"
            | "toolbar"
    )
}

/// Element ids of mdBook's and rustdoc's chrome (old and new mdBook spell them with and
/// without the `mdbook-` prefix).
fn skipped_id(id: &str) -> bool {
    matches!(
        id,
        "sidebar"
            | "mdbook-sidebar"
            | "menu-bar"
            | "mdbook-menu-bar"
            | "menu-bar-hover-placeholder"
            | "mdbook-menu-bar-hover-placeholder"
            | "mdbook-help-container"
            | "search-wrapper"
            | "mdbook-search-wrapper"
            | "copy-path"
    )
}

/// Classes of mdBook's and rustdoc's chrome, some only on the element that has them there
/// (a `span.sub-heading` is rustdoc's version line; a `p.sub-heading` may be text).
fn skipped_class(tag: &str, class: &str) -> bool {
    match class {
        // mdBook: the table of contents, the menu bar, the previous/next arrows.
        "sidebar"
        | "menu-bar"
        | "nav-chapters"
        | "mobile-nav-chapters"
        | "nav-wrapper"
        | "nav-wide-wrapper"
        | "sidebar-resize-handle"
        | "searchbar-outer"
        | "searchresults-outer" => true,
        // rustdoc: the sidebar, breadcrumbs, line numbers, "since" and "Source" notes.
        "sidebar-resizer"
        | "rustdoc-breadcrumbs"
        | "src-line-numbers"
        | "example-line-numbers"
        | "rightside"
        | "since"
        | "out-of-band" => true,
        // rustdoc's version line under the title; mdBook's hidden lines of examples.
        "sub-heading" | "boring" => tag == "span",
        // rustdoc's "Source" links, the § anchors, the run-this-example arrows, the ⓘ.
        "src" | "anchor" | "doc-anchor" | "test-arrow" | "tooltip" | "skip-main-content" => {
            tag == "a"
        }
        // rustdoc's "Expand description".
        "hideme" => tag == "summary",
        _ => false,
    }
}

/// Whether an inline style hides the element.
fn hidden_by_style(style: &str) -> bool {
    let compact: String = style
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    compact.contains("display:none") || compact.contains("visibility:hidden")
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "keygen"
    )
}

/// Elements that start and end a block of text.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "main"
            | "aside"
            | "nav"
            | "header"
            | "footer"
            | "address"
            | "blockquote"
            | "figure"
            | "figcaption"
            | "details"
            | "summary"
            | "dialog"
            | "dl"
            | "dt"
            | "dd"
            | "ol"
            | "ul"
            | "li"
            | "menu"
            | "table"
            | "caption"
            | "thead"
            | "tbody"
            | "tfoot"
            | "tr"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "hgroup"
            | "pre"
            | "listing"
            | "form"
            | "fieldset"
            | "legend"
            | "center"
            | "search"
            | "body"
            | "html"
    )
}

/// The level of a heading element.
fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// The code-fence tag in a `class` (`language-rust`, `lang-py`, or rustdoc's bare `rust`).
fn language_in(class: &str) -> Option<String> {
    class.split_ascii_whitespace().find_map(|token| {
        let language = token
            .strip_prefix("language-")
            .or_else(|| token.strip_prefix("lang-"))
            .or((token == "rust").then_some(token))?;
        let clean = !language.is_empty()
            && language.len() <= 32
            && language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#' | '.'));
        clean.then(|| language.to_owned())
    })
}

/// Whitespace as HTML collapses it; a no-break space counts too, so `&nbsp;` between words
/// comes out as one plain space.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}' | '\u{a0}')
}

/// What an open element does to the text while it is open; undone when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Nothing beyond being a block or not.
    Plain,
    /// Hides its content.
    Skip,
    /// `<main>` or `<article>`.
    Main,
    /// `<svg>` or `<math>`, where the tokenizer follows XML's rules.
    Foreign,
    Heading,
    Pre,
    /// `<ul>` or `<ol>`; the number of the next item for `<ol>`.
    List {
        ordered: bool,
        next: u64,
    },
    Item,
    Quote,
    Row,
    Cell,
    /// The document's `<title>`, being collected.
    Title,
}

#[derive(Debug)]
struct Open {
    name: LocalName,
    role: Role,
    block: bool,
}

/// The separation owed before the next text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    None,
    Space,
    Line,
    Blank,
}

/// The text being written, with whitespace collapsed and separations owed until text
/// follows them (so empty elements leave no blank lines).
#[derive(Debug)]
struct Out {
    text: String,
    gap: Gap,
    /// The marker owed at the start of the next block (`## `, `- `, `3. `).
    prefix: String,
    /// How many blockquotes are open; each line in them starts with `> `.
    quotes: usize,
    /// Cell separators owed in the current table row.
    cells: usize,
    /// Whether the current table row has text yet.
    row_has_text: bool,
}

impl Out {
    fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
    }

    /// Writes what is owed before the next text.
    fn flush(&mut self) {
        let line_start = match self.gap {
            _ if self.text.is_empty() => true,
            Gap::Blank => {
                self.text.push_str("\n\n");
                true
            }
            Gap::Line => {
                self.text.push('\n');
                true
            }
            Gap::Space if self.cells == 0 => {
                self.text.push(' ');
                false
            }
            Gap::Space | Gap::None => false,
        };
        self.gap = Gap::None;
        if line_start {
            for _ in 0..self.quotes.min(MAX_NESTING_SHOWN) {
                self.text.push_str("> ");
            }
        }
        if !self.prefix.is_empty() {
            self.text.push_str(&self.prefix);
            self.prefix.clear();
        }
        if self.cells > 0 {
            // Empty cells still take a column, except at the end of a row.
            if self.row_has_text {
                for _ in 0..self.cells {
                    self.text.push_str(" |");
                }
                self.text.push(' ');
            } else {
                for _ in 0..self.cells {
                    self.text.push_str("| ");
                }
            }
            self.cells = 0;
        }
    }

    /// Inline text: whitespace runs become one space, and none at the start of a line.
    fn words(&mut self, text: &str) {
        for (i, word) in text.split(is_space).enumerate() {
            if i > 0 {
                self.gap(Gap::Space);
            }
            if !word.is_empty() {
                self.flush();
                self.text.push_str(word);
                self.row_has_text = true;
            }
        }
    }

    /// A code block, fenced with the language when known.
    fn code(&mut self, code: &str, language: Option<&str>) {
        self.gap(Gap::Blank);
        self.flush();
        let fence = super::fence_for(code);
        let quote = "> ".repeat(self.quotes.min(MAX_NESTING_SHOWN));
        self.text.push_str(&fence);
        self.text.push_str(language.unwrap_or_default());
        for line in code.split('\n') {
            self.text.push('\n');
            self.text.push_str(&quote);
            self.text.push_str(line.trim_end());
        }
        self.text.push('\n');
        self.text.push_str(&quote);
        self.text.push_str(&fence);
        self.gap(Gap::Blank);
    }
}

/// The token sink: the tokenizer hands it one token at a time.
struct Sink(RefCell<Walk>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        // The tokenizer never calls back while a token is being handled; should it ever,
        // the token is dropped rather than the borrow panicking.
        match self.0.try_borrow_mut() {
            Ok(mut walk) => walk.token(token),
            Err(_) => TokenSinkResult::Continue,
        }
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        // Inside `<svg>` and `<math>`, `<![CDATA[...]]>` is text.
        self.0.try_borrow().is_ok_and(|walk| walk.foreign > 0)
    }
}

/// The walk over a page's tokens.
struct Walk {
    /// Keep only the text inside `<main>` and `<article>`.
    main_only: bool,
    max_chars: usize,
    stack: Vec<Open>,
    /// Elements open past [`MAX_DEPTH`], only counted.
    overflow: usize,
    /// Open elements that hide their content, `<main>`/`<article>` elements, and
    /// `<svg>`/`<math>` elements.
    skipping: usize,
    mains: usize,
    foreign: usize,
    lists: usize,
    cells: usize,
    /// Cells started in the current row.
    row_cells: usize,
    headings: usize,
    /// The outermost open `<pre>`'s text so far, and its language.
    pre: Option<(String, Option<String>)>,
    title: Option<String>,
    in_title: bool,
    out: Out,
    /// Enough text is written; the rest of the page is only tokenized.
    full: bool,
}

impl Walk {
    fn new(main_only: bool, max_chars: usize) -> Self {
        Self {
            main_only,
            max_chars,
            stack: Vec::new(),
            overflow: 0,
            skipping: 0,
            mains: 0,
            foreign: 0,
            lists: 0,
            cells: 0,
            row_cells: 0,
            headings: 0,
            pre: None,
            title: None,
            in_title: false,
            out: Out {
                text: String::new(),
                gap: Gap::None,
                prefix: String::new(),
                quotes: 0,
                cells: 0,
                row_has_text: false,
            },
            full: false,
        }
    }

    fn finish(&mut self) -> Page {
        while let Some(open) = self.stack.pop() {
            self.close(&open);
        }
        let title = self.title.take().and_then(|title| {
            let title = title.split(is_space).filter(|w| !w.is_empty());
            let title = title.collect::<Vec<_>>().join(" ");
            (!title.is_empty()).then_some(title)
        });
        Page {
            text: std::mem::take(&mut self.out.text),
            title,
        }
    }

    fn visible(&self) -> bool {
        self.skipping == 0 && self.overflow == 0 && (!self.main_only || self.mains > 0)
    }

    fn token(&mut self, token: Token) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return self.start(tag),
                TagKind::EndTag => self.end(&tag.name),
            },
            Token::CharacterTokens(text) => self.characters(&text),
            _ => {}
        }
        TokenSinkResult::Continue
    }

    fn characters(&mut self, text: &str) {
        if self.in_title {
            let title = self.title.get_or_insert_with(String::new);
            if title.len() < MAX_TITLE {
                title.push_str(text);
            }
            return;
        }
        if self.full || !self.visible() {
            return;
        }
        match &mut self.pre {
            Some((code, _)) if self.cells == 0 => code.push_str(text),
            _ => self.out.words(text),
        }
        if super::surely_longer(&self.out.text, self.max_chars) {
            self.full = true;
        }
    }

    /// A separation between blocks; inside a table cell, blocks run on with a space.
    fn block(&mut self) {
        if self.cells > 0 || self.headings > 0 {
            self.out.gap(Gap::Space);
        } else {
            self.out.gap(Gap::Blank);
        }
    }

    fn start(&mut self, tag: Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        if is_void(name) {
            self.void(name);
            return TokenSinkResult::Continue;
        }
        if self.stack.len() >= MAX_DEPTH || self.overflow > 0 {
            if !tag.self_closing {
                self.overflow += 1;
            }
            return TokenSinkResult::Continue;
        }
        self.close_implied(name);

        let role = self.role(&tag);
        let block = is_block(name);
        let open = Open {
            name: tag.name.clone(),
            role,
            block,
        };
        self.open(&open, &tag);
        // `<x/>` is taken as closed: right for SVG and XHTML, harmless for the odd HTML page
        // that writes `<div/>`.
        if tag.self_closing {
            self.close(&open);
            return TokenSinkResult::Continue;
        }
        let raw = if self.foreign > 0 {
            None
        } else {
            match name {
                "script" => Some(TokenSinkResult::RawData(RawKind::ScriptData)),
                "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                    Some(TokenSinkResult::RawData(RawKind::Rawtext))
                }
                "textarea" | "title" => Some(TokenSinkResult::RawData(RawKind::Rcdata)),
                "plaintext" => Some(TokenSinkResult::Plaintext),
                _ => None,
            }
        };
        self.stack.push(open);
        raw.unwrap_or(TokenSinkResult::Continue)
    }

    /// `<br>`, `<hr>` and the other elements without content.
    fn void(&mut self, name: &str) {
        if !self.visible() {
            return;
        }
        match name {
            "br" => match &mut self.pre {
                Some((code, _)) if self.cells == 0 => code.push('\n'),
                _ if self.cells > 0 || self.headings > 0 => self.out.gap(Gap::Space),
                _ => self.out.gap(Gap::Line),
            },
            "hr" => self.block(),
            _ => {}
        }
    }

    /// What the element does to the text, from its name and attributes.
    fn role(&self, tag: &Tag) -> Role {
        let name: &str = &tag.name;
        if skipped_element(name) || self.chrome(tag) {
            return Role::Skip;
        }
        if heading_level(name).is_some() {
            return Role::Heading;
        }
        match name {
            "main" | "article" => Role::Main,
            // Outside the main text, a page's header and footer are its chrome.
            "header" | "footer" if self.mains == 0 => Role::Skip,
            "math" => Role::Foreign,
            "title" if self.foreign == 0 && self.title.is_none() => Role::Title,
            // A second title, or one in an SVG, is not shown.
            "title" => Role::Skip,
            "pre" | "listing" if self.pre.is_none() && self.cells == 0 => Role::Pre,
            "ul" | "menu" => Role::List {
                ordered: false,
                next: 1,
            },
            "ol" => {
                let start = attr(tag, "start")
                    .and_then(|start| start.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                Role::List {
                    ordered: true,
                    next: start,
                }
            }
            "li" => Role::Item,
            "blockquote" => Role::Quote,
            "tr" if self.cells == 0 => Role::Row,
            "td" | "th" => Role::Cell,
            _ => Role::Plain,
        }
    }

    /// Whether the attributes mark the element as page chrome or hidden.
    fn chrome(&self, tag: &Tag) -> bool {
        let name: &str = &tag.name;
        tag.attrs.iter().any(|attr| {
            let value: &str = &attr.value;
            match &*attr.name.local {
                "hidden" => true,
                "role" => skipped_role(value),
                "id" => skipped_id(value),
                "class" => value
                    .split_ascii_whitespace()
                    .any(|class| skipped_class(name, class)),
                "style" => hidden_by_style(value),
                _ => false,
            }
        })
    }

    /// Applies an element's role as it opens.
    fn open(&mut self, open: &Open, tag: &Tag) {
        let name: &str = &open.name;
        if open.block {
            if let Some((code, _)) = &mut self.pre {
                // A highlighter's line `<div>`s inside `<pre>` are lines.
                if !code.is_empty() && !code.ends_with('\n') {
                    code.push('\n');
                }
            } else {
                self.block();
            }
        }
        match open.role {
            Role::Plain => {
                if name == "code"
                    && let Some((_, language @ None)) = &mut self.pre
                {
                    *language = attr(tag, "class").and_then(language_in);
                }
            }
            Role::Skip => self.skipping += 1,
            Role::Main => self.mains += 1,
            Role::Foreign => self.foreign += 1,
            Role::Title => self.in_title = true,
            Role::Heading => {
                if self.cells == 0 && self.headings == 0 && self.visible() {
                    let level = heading_level(name).unwrap_or(1);
                    self.out.prefix = format!("{} ", "#".repeat(level));
                }
                self.headings += 1;
            }
            Role::Pre => {
                let language = attr(tag, "class").and_then(language_in);
                self.pre = Some((String::new(), language));
            }
            Role::List { .. } => self.lists += 1,
            Role::Item => {
                if self.cells == 0 && self.headings == 0 && self.visible() {
                    let marker = self.next_marker();
                    let depth = self.lists.saturating_sub(1).min(MAX_NESTING_SHOWN);
                    let indent = "  ".repeat(depth);
                    self.out.prefix = format!("{indent}{marker}");
                }
            }
            Role::Quote => self.out.quotes += 1,
            Role::Row => {
                self.row_cells = 0;
                self.out.cells = 0;
                self.out.row_has_text = false;
            }
            Role::Cell => {
                if self.cells == 0 {
                    self.row_cells += 1;
                    if self.row_cells > 1 && self.visible() {
                        self.out.cells += 1;
                    }
                } else {
                    self.out.gap(Gap::Space);
                }
                self.cells += 1;
            }
        }
        if name == "svg" {
            self.foreign += 1;
        }
    }

    /// The marker of a new list item: the number in an `<ol>`, else a dash.
    fn next_marker(&mut self) -> String {
        let list = self
            .stack
            .iter_mut()
            .rev()
            .take(MATCH_WINDOW)
            .find_map(|open| match &mut open.role {
                Role::List { ordered, next } => Some((*ordered, next)),
                _ => None,
            });
        match list {
            Some((true, next)) => {
                let number = *next;
                *next = next.saturating_add(1);
                format!("{number}. ")
            }
            _ => "- ".to_owned(),
        }
    }

    /// Undoes an element's role as it closes.
    fn close(&mut self, open: &Open) {
        match open.role {
            Role::Plain => {}
            Role::Skip => self.skipping = self.skipping.saturating_sub(1),
            Role::Main => self.mains = self.mains.saturating_sub(1),
            Role::Foreign => self.foreign = self.foreign.saturating_sub(1),
            Role::Title => self.in_title = false,
            Role::Heading => {
                self.headings = self.headings.saturating_sub(1);
                if self.headings == 0 {
                    // A heading without text leaves no marker behind.
                    self.out.prefix.clear();
                }
            }
            Role::Pre => {
                if let Some((code, language)) = self.pre.take() {
                    // HTML drops the newline right after `<pre>`; blank lines around the
                    // code say nothing either.
                    let code = code.trim_end().trim_start_matches(['\n', '\r']);
                    if !code.trim().is_empty() && self.visible() && !self.full {
                        self.out.code(code, language.as_deref());
                    }
                }
            }
            Role::List { .. } => self.lists = self.lists.saturating_sub(1),
            Role::Item => self.out.prefix.clear(),
            Role::Quote => self.out.quotes = self.out.quotes.saturating_sub(1),
            Role::Row => {
                // Separators owed for empty cells at the end of the row are dropped.
                self.out.cells = 0;
                self.row_cells = 0;
            }
            Role::Cell => self.cells = self.cells.saturating_sub(1),
        }
        if &*open.name == "svg" {
            self.foreign = self.foreign.saturating_sub(1);
        }
        if open.block && self.pre.is_none() {
            self.block();
        }
    }

    /// Closes the open elements down to the one this end tag names, if it is open near
    /// the top; a stray end tag is ignored, as browsers do.
    fn end(&mut self, name: &LocalName) {
        if self.overflow > 0 {
            // Past the depth limit end tags are only counted against start tags.
            self.overflow -= 1;
            return;
        }
        let found = self
            .stack
            .iter()
            .rev()
            .take(MATCH_WINDOW)
            .position(|open| open.name == *name);
        if let Some(from_top) = found {
            self.pop(from_top + 1);
        }
    }

    /// Closes the top `count` open elements.
    fn pop(&mut self, count: usize) {
        for _ in 0..count {
            let Some(open) = self.stack.pop() else { break };
            self.close(&open);
        }
    }

    /// The end tags HTML leaves out: a new `<li>` closes the open one, a new cell the open
    /// cell, a new row the open row, a new `<p>` or heading the open one.
    fn close_implied(&mut self, name: &str) {
        let (closes, within): (&[&str], &[&str]) = match name {
            "li" => (&["li"], &["ul", "ol", "menu"]),
            "dt" | "dd" => (&["dt", "dd"], &["dl"]),
            "td" | "th" => (&["td", "th"], &["tr", "table"]),
            "tr" => (&["tr"], &["table", "thead", "tbody", "tfoot"]),
            "thead" | "tbody" | "tfoot" => (&["thead", "tbody", "tfoot"], &["table"]),
            "p" => (
                &["p"],
                &["div", "section", "article", "main", "td", "th", "li"],
            ),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                (&["h1", "h2", "h3", "h4", "h5", "h6"], &["div", "section"])
            }
            "option" => (&["option"], &["select", "datalist"]),
            _ => return,
        };
        let found = self
            .stack
            .iter()
            .rev()
            .take(MATCH_WINDOW)
            .take_while(|open| !within.contains(&&*open.name))
            .position(|open| closes.contains(&&*open.name));
        if let Some(from_top) = found {
            self.pop(from_top + 1);
        }
    }
}

/// An attribute's value.
fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|attr| &*attr.name.local == name)
        .map(|attr| &*attr.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        main_text(html, usize::MAX).text
    }

    #[test]
    fn headings_paragraphs_and_inline_text() {
        assert_eq!(
            text("<h1>Title</h1><p>One <em>two</em>\n   three.</p><p>Four&amp;five&nbsp;six</p>"),
            "# Title\n\nOne two three.\n\nFour&five six"
        );
        assert_eq!(text("<h3>  </h3><p>x</p>"), "x");
    }

    #[test]
    fn lists_quotes_and_breaks() {
        assert_eq!(
            text("<ul><li>a<li>b<ul><li>c</ul></ul><ol start=3><li>x</li><li>y</li></ol>"),
            "- a\n\n- b\n\n  - c\n\n3. x\n\n4. y"
        );
        assert_eq!(
            text("<blockquote><p>quoted<br>line</p></blockquote>"),
            "> quoted\n> line"
        );
    }

    #[test]
    fn tables_keep_columns() {
        assert_eq!(
            text(
                "<table><tr><th>Name<th>City</tr><tr><td>Ann</td><td></td><td>3</td></tr>\
                 <tr><td></td><td>Rome</td></tr><tr><td></td><td></td></tr></table>"
            ),
            "Name | City\n\nAnn | | 3\n\n| Rome"
        );
    }

    #[test]
    fn pre_keeps_whitespace_in_a_fence() {
        assert_eq!(
            text(
                "<p>Code:</p><pre><code class=\"language-rust\">\nfn main() {\n    x();\n}\n</code></pre>"
            ),
            "Code:\n\n```rust\nfn main() {\n    x();\n}\n```"
        );
        assert_eq!(text("<pre>a ``` b</pre>"), "````\na ``` b\n````");
    }

    #[test]
    fn chrome_and_code_are_dropped() {
        assert_eq!(
            text(
                "<header>Site</header><nav>Menu</nav><script>var a = '<p>x</p>';</script>\
                 <style>p{}</style><p>Body</p><div role=navigation>links</div>\
                 <div hidden>h</div><div style=\"display: none\">n</div><footer>(c)</footer>"
            ),
            "Body"
        );
    }

    #[test]
    fn main_wins_over_the_rest() {
        assert_eq!(
            text(
                "<div>chrome</div><main><header><h1>Kept</h1></header><p>text</p></main><p>after</p>"
            ),
            "# Kept\n\ntext"
        );
        // `<main` in a script is not a main element.
        assert_eq!(
            text("<script>let s = '<main>';</script><p>all of it</p>"),
            "all of it"
        );
    }

    #[test]
    fn title_is_collected() {
        let page = extract(
            "<html><head><title> A  &amp; B </title></head><body><svg><title>icon</title></svg>x</body>",
            false,
            usize::MAX,
        );
        assert_eq!(page.title.as_deref(), Some("A & B"));
        assert_eq!(page.text, "x");
    }

    #[test]
    fn charset_comes_from_meta() {
        assert_eq!(
            declared_charset(b"<html><head><meta charset=\"ISO-8859-1\">"),
            Some(encoding_rs::WINDOWS_1252)
        );
        assert_eq!(
            declared_charset(
                b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">"
            ),
            Some(encoding_rs::SHIFT_JIS)
        );
        assert_eq!(
            declared_charset(b"<meta charset=utf-16>"),
            Some(encoding_rs::UTF_8)
        );
        assert_eq!(declared_charset(b"<meta name=x><p>charset=koi8-r"), None);
        assert_eq!(declared_charset(b"<meta charset=nonsense>"), None);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("<p>top</p>{}deep", "<ul><li><blockquote>".repeat(MAX_DEPTH));
        let page = main_text(&deep, usize::MAX);
        assert!(page.text.starts_with("top"), "{}", page.text.len());
        // Text past the depth limit is left out, and lines stay short.
        assert!(!page.text.contains("deep"));
        assert!(page.text.lines().all(|line| line.len() < 64));
        let shallow = format!("{}x", "<ul><li><blockquote>".repeat(20));
        let page = main_text(&shallow, usize::MAX);
        assert_eq!(
            page.text,
            format!(
                "{}- x",
                "> ".repeat(MAX_NESTING_SHOWN) + &"  ".repeat(MAX_NESTING_SHOWN)
            )
        );
    }

    #[test]
    fn chunks_end_on_character_boundaries() {
        assert_eq!(chunk_end("héllo", 2), 1);
        assert_eq!(chunk_end("héllo", 3), 3);
        assert_eq!(chunk_end("é", 1), 2);
        assert_eq!(chunk_end("ab", 10), 2);
    }
}
