//! Splitting a loaded document into passages ("chunks") to index and embed.
//!
//! Chunks follow the document's structure. Markdown headings (which the loaders also
//! produce for HTML and Word documents) start a new chunk and give every chunk its
//! heading path; within a section, whole paragraphs (blank-line separated blocks, a fenced
//! code block being one block) are packed up to the size limit; only a paragraph larger
//! than that is split, at sentence ends, then at word boundaries, then between any two
//! characters. A chunk never crosses a PDF page boundary.
//!
//! Sizes are in tokens as [`count_tokens`] estimates them, which is fast and close enough
//! to a BERT or BPE tokenizer's count to keep chunks within a model's input.

use crate::keyword::is_cjk;
use crate::loaders::{DocKind, Loaded};

/// How large chunks are, in tokens as [`count_tokens`] estimates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// The most tokens a chunk's [`Chunk::text`] has, overlap included.
    pub size: usize,
    /// About how many tokens from the end of a chunk are repeated at the start of the
    /// next chunk of the same section and page, so a passage cut in two can still be
    /// found from either half. At most this many; fewer where a boundary falls.
    pub overlap: usize,
}

impl ChunkOptions {
    /// The smallest [`ChunkOptions::size`] allowed.
    pub const MIN_SIZE: usize = 16;

    /// Checks that the options make sense: a size of at least [`ChunkOptions::MIN_SIZE`]
    /// tokens and an overlap of less than half the size.
    ///
    /// [`chunk`] does not need valid options (it raises a small size and lowers a large
    /// overlap to the nearest valid values); this is for refusing a setting with a message
    /// a person can act on.
    ///
    /// # Errors
    ///
    /// A sentence saying which value is wrong and what would be accepted.
    pub fn validate(&self) -> Result<(), String> {
        if self.size < Self::MIN_SIZE {
            return Err(format!(
                "The chunk size is {} tokens; it must be at least {} tokens.",
                self.size,
                Self::MIN_SIZE
            ));
        }
        if self.overlap >= self.size / 2 {
            return Err(format!(
                "The chunk overlap is {} tokens; it must be less than half the chunk size \
                 (at most {} tokens for a chunk size of {}).",
                self.overlap,
                (self.size / 2).saturating_sub(1),
                self.size
            ));
        }
        Ok(())
    }

    /// The size and overlap [`chunk`] uses: the nearest valid values.
    fn effective(&self) -> (usize, usize) {
        let size = self.size.max(Self::MIN_SIZE);
        let overlap = self.overlap.min(size / 2 - 1);
        (size, overlap)
    }
}

impl Default for ChunkOptions {
    /// 512 tokens with 64 tokens of overlap.
    fn default() -> Self {
        Self {
            size: 512,
            overlap: 64,
        }
    }
}

/// One passage of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// What to index and embed: the end of the previous chunk (about
    /// [`ChunkOptions::overlap`] tokens, starting at a sentence or word boundary), then the
    /// whitespace between the two, then this chunk's own content (`start..end`).
    ///
    /// It is always the slice of [`Loaded::text`] that ends at `end`: `text ==
    /// loaded.text[end - text.len()..end]`. The overlap comes only from the previous
    /// chunk of the same section and page; the first chunk of a section has none, so its
    /// text is exactly `loaded.text[start..end]`.
    pub text: String,
    /// Byte offset in [`Loaded::text`] where this chunk's own content starts (a character
    /// boundary). The contents of a document's chunks do not overlap and come in order.
    pub start: usize,
    /// Byte offset just past this chunk's own content (a character boundary); the content
    /// never ends in whitespace.
    pub end: usize,
    /// For a PDF, the page (from 1) the chunk is on; `None` for other kinds.
    pub page: Option<u32>,
    /// The titles of the headings the chunk is under, outermost first (for example
    /// `["Understanding Ownership", "What Is Ownership?"]`); empty before the first
    /// heading and in documents without headings.
    pub heading_path: Vec<String>,
    /// The estimated number of tokens in [`Chunk::text`] (overlap included); at most
    /// [`ChunkOptions::size`].
    pub tokens: usize,
}

/// Splits a loaded document into chunks (see the [module documentation](self)).
///
/// Markdown headings (`#` to `######` at the start of a line, outside fenced code) start a
/// new chunk; a heading followed directly by another heading stays with the content that
/// follows. Source code ([`DocKind::Code`]) has no headings: its `#` lines are comments.
/// A PDF with pages is chunked page by page and each chunk gets its page; headings carry
/// on across pages.
///
/// Never returns an empty or whitespace-only chunk, and never panics: invalid options are
/// replaced by the nearest valid ones (see [`ChunkOptions::validate`]), and PDF page spans
/// that do not fit the text are skipped.
pub fn chunk(loaded: &Loaded, opts: &ChunkOptions) -> Vec<Chunk> {
    let (size, overlap) = opts.effective();
    let markdown = !matches!(loaded.kind, DocKind::Code { .. });
    let mut chunker = Chunker {
        text: &loaded.text,
        size,
        overlap,
        headings: Vec::new(),
        page: None,
        current: None,
        previous: None,
        out: Vec::new(),
    };
    if loaded.kind == DocKind::Pdf && !loaded.pages.is_empty() {
        for span in &loaded.pages {
            // A span must lie inside the text on character boundaries to be read at all.
            if loaded.text.get(span.start..span.end).is_none() {
                continue;
            }
            chunker.page = Some(span.page);
            chunker.region(span.start, span.end, markdown);
        }
    } else {
        chunker.region(0, loaded.text.len(), markdown);
    }
    chunker.out
}

/// Estimates how many tokens a BERT WordPiece or BPE tokenizer makes of `text`.
///
/// This is an estimate, not a tokenizer. A word of up to six bytes counts as one token
/// and a longer one as about one per four bytes (so letters of non-Latin alphabets, two
/// or more bytes each, count more, as such tokenizers split them finer); a switch between
/// letters and digits inside a word starts a new piece (`sha256`, hex strings); each
/// punctuation mark or symbol counts as one, and so does each Chinese, Japanese or Korean
/// character.
///
/// Measured against all-MiniLM-L6-v2's WordPiece tokenizer on 256-token chunks, the
/// median ratio is 0.97 to 1.05 (English documentation, Rust source, crate READMEs) and
/// 83% to 97% of chunks are within 15%; 3% to 4% are underestimated by more, the worst
/// (hex dumps, base64) by up to half. Choose a chunk size some 15% below a model's input
/// limit; the rare longer chunk loses its end to the embedder, not to keyword search.
///
/// The count is additive over text split at whitespace or punctuation.
pub fn count_tokens(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut counter = Counter::default();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        // ASCII by table, the rest by decoding: most text is mostly ASCII.
        if byte.is_ascii() {
            counter.push(ASCII_CLASS[usize::from(byte)], 1);
            i += 1;
        } else {
            let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            counter.push(classify(c), c.len_utf8());
            i += c.len_utf8();
        }
    }
    counter.total()
}

/// The running token estimate of [`count_tokens`], fed one character at a time (forwards
/// or backwards: the count is the same).
#[derive(Debug, Default)]
struct Counter {
    /// Tokens of everything before the current word.
    tokens: usize,
    /// Bytes of the current word (a run of letters, or of digits).
    word: usize,
    /// Whether the current word is digits.
    digits: bool,
}

impl Counter {
    #[inline]
    fn push(&mut self, class: Class, len: usize) {
        match class {
            Class::Letter | Class::Digit => {
                let digits = class == Class::Digit;
                if self.word > 0 && digits != self.digits {
                    self.tokens += word_tokens(self.word);
                    self.word = 0;
                }
                self.digits = digits;
                self.word += len;
            }
            Class::Space => {
                self.tokens += word_tokens(self.word);
                self.word = 0;
            }
            Class::Mark => {
                self.tokens += word_tokens(self.word) + 1;
                self.word = 0;
            }
        }
    }

    /// Tokens so far, the current word included.
    #[inline]
    fn total(&self) -> usize {
        self.tokens + word_tokens(self.word)
    }
}

/// [`classify`] for each ASCII character.
const ASCII_CLASS: [Class; 128] = {
    let mut table = [Class::Mark; 128];
    let mut byte = 0;
    while byte < 128 {
        let c = byte as u8;
        if c.is_ascii_digit() {
            table[byte] = Class::Digit;
        } else if c.is_ascii_alphabetic() {
            table[byte] = Class::Letter;
        } else if c.is_ascii_whitespace() {
            table[byte] = Class::Space;
        }
        byte += 1;
    }
    table
};

/// What a character is to the token estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Part of a word.
    Letter,
    /// Part of a number (ASCII digits; other digits count as letters).
    Digit,
    /// Whitespace: ends a word, no token of its own.
    Space,
    /// A token of its own: punctuation, a symbol, a CJK character.
    Mark,
}

impl Class {
    fn is_word(self) -> bool {
        matches!(self, Class::Letter | Class::Digit)
    }
}

fn classify(c: char) -> Class {
    if c.is_ascii() {
        ASCII_CLASS[usize::from(c as u8)]
    } else if is_cjk(c) {
        Class::Mark
    } else if c.is_alphanumeric() || ('\u{300}'..='\u{36F}').contains(&c) {
        // Combining accents belong to the letter before them.
        Class::Letter
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Mark
    }
}

/// Tokens for a word of `len` bytes.
fn word_tokens(len: usize) -> usize {
    match len {
        0 => 0,
        1..=6 => 1,
        _ => 1 + (len - 6).div_ceil(4),
    }
}

/// Whether a sentence (or a line) ends between `prev` and `next`.
fn ends_sentence(prev: char, next: char) -> bool {
    match prev {
        '\n' | '。' | '！' | '？' => true,
        '.' | '!' | '?' => next.is_whitespace() || is_cjk(next),
        _ => false,
    }
}

/// The chunk being filled.
#[derive(Debug)]
struct Current {
    /// Start of the content.
    start: usize,
    /// End of the content so far (`start` while empty).
    end: usize,
    /// Tokens of the content.
    tokens: usize,
    /// Whether the content has more than headings.
    body: bool,
    /// Start of the overlap taken from the previous chunk (`start` when there is none).
    lead: usize,
    /// Tokens of the overlap.
    lead_tokens: usize,
}

impl Current {
    fn total(&self) -> usize {
        self.lead_tokens + self.tokens
    }
}

struct Chunker<'a> {
    text: &'a str,
    size: usize,
    overlap: usize,
    /// The open headings: level and title.
    headings: Vec<(usize, String)>,
    page: Option<u32>,
    current: Option<Current>,
    /// Content range of the last chunk emitted in this section and page, for overlap.
    previous: Option<(usize, usize)>,
    out: Vec<Chunk>,
}

impl Chunker<'_> {
    fn slice(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// Chunks `start..end` (character boundaries), a whole document or one PDF page.
    fn region(&mut self, start: usize, end: usize, markdown: bool) {
        let mut blocks = Blocks {
            text: self.text,
            pos: start,
            end,
            markdown,
        };
        while let Some(block) = blocks.next_block() {
            match block.heading {
                Some((level, title)) => {
                    // A heading ends the section, unless the section so far is only
                    // headings: those stay with what follows.
                    if self.current.as_ref().is_some_and(|current| current.body) {
                        self.flush();
                    }
                    self.previous = None;
                    while self.headings.last().is_some_and(|(open, _)| *open >= level) {
                        self.headings.pop();
                    }
                    self.headings.push((level, title.to_owned()));
                    self.add(block.start, block.end, false);
                }
                None => self.add(block.start, block.end, true),
            }
        }
        self.flush();
        self.previous = None;
    }

    /// Adds a block (a paragraph, a code block or a heading line) to the chunk being
    /// filled, starting a new chunk or splitting the block where it does not fit.
    fn add(&mut self, start: usize, end: usize, body: bool) {
        let tokens = count_tokens(self.slice(start, end));
        if let Some(current) = &mut self.current {
            if current.total() + tokens <= self.size {
                current.end = end;
                current.tokens += tokens;
                current.body |= body;
                return;
            }
            if current.body {
                self.flush();
            }
        }
        if self.current.is_none() {
            // A block that fits a chunk on its own is not split to make room for the
            // overlap; the overlap shrinks instead.
            let room = if tokens <= self.size {
                self.size - tokens
            } else {
                self.overlap
            };
            self.open(start, room);
        }
        if let Some(current) = &mut self.current
            && current.total() + tokens <= self.size
        {
            current.end = end;
            current.tokens += tokens;
            current.body |= body;
            return;
        }
        self.split(start, end, body);
    }

    /// Adds a block too large for one chunk, piece by piece.
    fn split(&mut self, start: usize, end: usize, body: bool) {
        let mut pos = start;
        loop {
            pos += self.slice(pos, end).len() - self.slice(pos, end).trim_start().len();
            if pos >= end {
                return;
            }
            if self.current.is_none() {
                self.open(pos, self.overlap);
            }
            let budget = self.current.as_ref().map_or(self.size, |current| {
                self.size.saturating_sub(current.total())
            });
            if budget == 0 {
                // Only possible with a pile of headings; they go out on their own. The
                // next chunk's overlap is under half the size, so this does not repeat.
                self.flush();
                continue;
            }
            let rest = self.slice(pos, end);
            if rest.is_empty() {
                return;
            }
            let (len, tokens) = cut(rest, budget);
            let piece_end = pos + rest.get(..len).unwrap_or_default().trim_end().len();
            if let Some(current) = &mut self.current {
                current.end = piece_end;
                current.tokens += tokens;
                current.body |= body;
            }
            pos += len.max(1);
            if pos < end {
                self.flush();
            }
        }
    }

    /// Starts a chunk at `start`, with up to `room` tokens (and at most the overlap
    /// setting) from the end of the previous chunk as overlap; none if `room` is under
    /// half the setting, as a few words of context help no one.
    fn open(&mut self, start: usize, room: usize) {
        let max = if room * 2 >= self.overlap {
            self.overlap.min(room)
        } else {
            0
        };
        // After a cut inside a word the overlap would join the word's two halves, which
        // count more tokens together than apart; such a chunk goes without.
        let inside_word = |prev_end: usize| {
            prev_end == start
                && self
                    .slice(0, start)
                    .chars()
                    .next_back()
                    .is_some_and(|c| classify(c).is_word())
                && self
                    .text
                    .get(start..)
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|c| classify(c).is_word())
        };
        let (lead, lead_tokens) = match self.previous {
            Some((prev_start, prev_end)) if max > 0 && !inside_word(prev_end) => {
                let tail = self.slice(prev_start, prev_end);
                let from = tail_start(tail, max);
                let tokens = count_tokens(tail.get(from..).unwrap_or_default());
                if tokens == 0 {
                    (start, 0)
                } else {
                    (prev_start + from, tokens)
                }
            }
            _ => (start, 0),
        };
        self.current = Some(Current {
            start,
            end: start,
            tokens: 0,
            body: false,
            lead,
            lead_tokens,
        });
    }

    /// Emits the chunk being filled, if it has any content.
    fn flush(&mut self) {
        let Some(current) = self.current.take() else {
            return;
        };
        if self.slice(current.start, current.end).trim().is_empty() {
            return;
        }
        let text = self
            .slice(current.lead.min(current.start), current.end)
            .to_owned();
        let chunk = Chunk {
            text,
            start: current.start,
            end: current.end,
            page: self.page,
            heading_path: self
                .headings
                .iter()
                .filter(|(_, title)| !title.is_empty())
                .map(|(_, title)| title.clone())
                .collect(),
            tokens: current.total(),
        };
        self.out.push(chunk);
        self.previous = Some((current.start, current.end));
    }
}

/// Where the overlap taken from the end of `text` starts: the earliest word boundary
/// with at most `max` tokens after it, moved on to the first sentence start after it if
/// that still keeps at least half of `max`.
fn tail_start(text: &str, max: usize) -> usize {
    let mut counter = Counter::default();
    let mut best = text.len();
    // Walking back, `after` is the class of the character after `c`.
    let mut after = None;
    for (i, c) in text.char_indices().rev() {
        let class = classify(c);
        counter.push(class, c.len_utf8());
        if counter.total() > max {
            break;
        }
        // Words start after whitespace (not after an apostrophe or a hyphen); CJK
        // characters are words of their own.
        if class == Class::Space && after.is_some_and(|after| after != Class::Space) {
            best = i + c.len_utf8();
        } else if is_cjk(c) {
            best = i;
        }
        after = Some(class);
    }
    if counter.total() <= max {
        return 0;
    }

    // Prefer starting the overlap with a whole sentence.
    let mut prev = text.get(..best).and_then(|head| head.chars().next_back());
    let mut ended = false;
    for (i, c) in text.get(best..).unwrap_or_default().char_indices() {
        if prev.is_some_and(|prev| ends_sentence(prev, c)) {
            ended = true;
        }
        if ended && !c.is_whitespace() {
            let at = best + i;
            if i == 0 || count_tokens(text.get(at..).unwrap_or_default()) * 2 >= max {
                return at;
            }
            break;
        }
        prev = Some(c);
    }
    best
}

/// The longest start of `text` with at most `budget` tokens: ending at a sentence or line
/// end if that keeps at least half the budget, else at a word boundary if that does, else
/// between any two characters. Returns its length in bytes (at least one character when
/// `text` is not empty) and its tokens.
fn cut(text: &str, budget: usize) -> (usize, usize) {
    let mut counter = Counter::default();
    let mut sentence = (0, 0);
    let mut boundary = (0, 0);
    let mut hard = (0, 0);
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let here = counter.total();
        if here > budget {
            return choose(text, budget, [sentence, boundary, hard]);
        }
        hard = (i, here);
        let class = classify(c);
        if let Some(prev) = prev {
            if ends_sentence(prev, c) {
                sentence = (i, here);
            }
            if class == Class::Space || is_cjk(c) || is_cjk(prev) {
                boundary = (i, here);
            }
        }
        counter.push(class, c.len_utf8());
        prev = Some(c);
    }
    let total = counter.total();
    if total <= budget {
        return (text.len(), total);
    }
    choose(text, budget, [sentence, boundary, hard])
}

/// The first of the candidate cuts (length, tokens) that is good enough; see [`cut`].
fn choose(
    text: &str,
    budget: usize,
    [sentence, boundary, hard]: [(usize, usize); 3],
) -> (usize, usize) {
    for candidate in [sentence, boundary] {
        if candidate.0 > 0 && candidate.1 * 2 >= budget {
            return candidate;
        }
    }
    if hard.0 > 0 {
        return hard;
    }
    // Not even one character fits; take it anyway so the caller moves on.
    let len = text.chars().next().map_or(0, char::len_utf8);
    (len, count_tokens(text.get(..len).unwrap_or_default()))
}

/// A paragraph, a fenced code block or a heading line.
#[derive(Debug)]
struct Block<'a> {
    start: usize,
    /// End, without trailing whitespace.
    end: usize,
    /// For a heading, its level and title.
    heading: Option<(usize, &'a str)>,
}

/// The blocks of `text[pos..end]`, in order.
struct Blocks<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
    /// Whether to look for headings and code fences.
    markdown: bool,
}

impl<'a> Blocks<'a> {
    /// The line starting at `at` (without its `\n`) and where the next one starts.
    fn line(&self, at: usize) -> (&'a str, usize) {
        let rest = self.text.get(at..self.end).unwrap_or_default();
        match rest.find('\n') {
            Some(i) => (rest.get(..i).unwrap_or_default(), at + i + 1),
            None => (rest, self.end),
        }
    }

    fn next_block(&mut self) -> Option<Block<'a>> {
        loop {
            if self.pos >= self.end {
                return None;
            }
            let start = self.pos;
            let (line, next) = self.line(start);
            self.pos = next;
            if is_blank(line) {
                continue;
            }
            let mut end = start + line.trim_end().len();
            if self.markdown {
                if let Some(heading) = heading(line) {
                    return Some(Block {
                        start,
                        end,
                        heading: Some(heading),
                    });
                }
                if let Some(fence) = fence_open(line) {
                    // Everything up to the closing fence, blank lines included; an
                    // unclosed fence runs to the end.
                    while self.pos < self.end {
                        let at = self.pos;
                        let (line, next) = self.line(at);
                        self.pos = next;
                        if !is_blank(line) {
                            end = at + line.trim_end().len();
                        }
                        if fence_closes(line, fence) {
                            break;
                        }
                    }
                    return Some(Block {
                        start,
                        end,
                        heading: None,
                    });
                }
            }
            while self.pos < self.end {
                let at = self.pos;
                let (line, next) = self.line(at);
                if is_blank(line)
                    || (self.markdown && (heading(line).is_some() || fence_open(line).is_some()))
                {
                    break;
                }
                end = at + line.trim_end().len();
                self.pos = next;
            }
            return Some(Block {
                start,
                end,
                heading: None,
            });
        }
    }
}

fn is_blank(line: &str) -> bool {
    line.trim_start().is_empty()
}

/// Up to three spaces of indentation, and what follows them; `None` for more.
fn unindent(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len() <= 3).then_some(rest)
}

/// A Markdown ATX heading's level and title.
fn heading(line: &str) -> Option<(usize, &str)> {
    let rest = unindent(line)?;
    let level = rest.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = rest.get(level..)?;
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let title = after.trim();
    // An optional closing run of `#`, after a space.
    let open = title.trim_end_matches('#');
    let title = if open.is_empty() || open.ends_with([' ', '\t']) {
        open.trim_end()
    } else {
        title
    };
    Some((level, title))
}

/// A code fence's character and length, if `line` opens one.
fn fence_open(line: &str) -> Option<(u8, usize)> {
    let rest = unindent(line)?;
    let fence = *rest.as_bytes().first()?;
    if fence != b'`' && fence != b'~' {
        return None;
    }
    let len = rest.bytes().take_while(|&b| b == fence).count();
    if len < 3 {
        return None;
    }
    // A backtick fence's info string has no backticks (otherwise it is inline code).
    if fence == b'`' && rest.get(len..).is_some_and(|info| info.contains('`')) {
        return None;
    }
    Some((fence, len))
}

/// Whether `line` closes a fence opened by [`fence_open`].
fn fence_closes(line: &str, (fence, len): (u8, usize)) -> bool {
    let Some(rest) = unindent(line) else {
        return false;
    };
    let run = rest.bytes().take_while(|&b| b == fence).count();
    run >= len && rest.get(run..).is_some_and(|after| after.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loaders::{Limits, PageSpan, load};

    /// A loaded document of the kind `name` suggests, with `text` as its text.
    fn loaded(name: &str, text: &str) -> Loaded {
        let mut loaded = load(name, b"placeholder", &Limits::default()).expect("loads");
        loaded.text = text.to_owned();
        loaded
    }

    fn opts(size: usize, overlap: usize) -> ChunkOptions {
        ChunkOptions { size, overlap }
    }

    /// What every chunking must satisfy.
    fn check(loaded: &Loaded, chunks: &[Chunk], size: usize) {
        let text = &loaded.text;
        let mut last_end = 0;
        for chunk in chunks {
            assert!(chunk.start < chunk.end, "{chunk:?}");
            assert!(
                chunk.start >= last_end,
                "chunks overlap or go back: {chunk:?}"
            );
            let content = &text[chunk.start..chunk.end];
            assert!(!content.trim().is_empty(), "{chunk:?}");
            assert_eq!(content.trim_end(), content, "content ends in whitespace");
            assert!(chunk.text.len() <= chunk.end);
            assert_eq!(chunk.text, text[chunk.end - chunk.text.len()..chunk.end]);
            assert!(chunk.text.ends_with(content));
            assert_eq!(chunk.tokens, count_tokens(&chunk.text), "{chunk:?}");
            assert!(chunk.tokens <= size, "{} > {size}: {chunk:?}", chunk.tokens);
            last_end = chunk.end;
        }
        // Nothing is lost: outside chunk contents there is only whitespace (or text
        // outside every page).
        let mut pos = 0;
        for chunk in chunks {
            let gap = &text[pos..chunk.start];
            if loaded.pages.is_empty() {
                assert!(gap.trim().is_empty(), "lost {gap:?}");
            }
            pos = chunk.end;
        }
        if loaded.pages.is_empty() {
            assert!(
                text[pos..].trim().is_empty(),
                "lost the end {:?}",
                &text[pos..]
            );
        }
    }

    #[test]
    fn token_estimates() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("   \n\t "), 0);
        assert_eq!(count_tokens("the cat sat"), 3);
        assert_eq!(count_tokens("Hello, world!"), 4);
        assert_eq!(count_tokens("ownership"), 2);
        assert_eq!(count_tokens("internationalization"), 5);
        assert_eq!(count_tokens("知识库"), 3);
        assert_eq!(count_tokens("Rust的所有权。"), 6);
        assert_eq!(count_tokens("データ"), 3);
        assert_eq!(count_tokens("café"), 1);
        assert_eq!(count_tokens("cafe\u{301}"), 1);
        assert_eq!(count_tokens("fn main() {}"), 6);
        assert_eq!(count_tokens("2026"), 1);
        assert_eq!(count_tokens("sha256"), 2);
        assert_eq!(count_tokens("0x8cbccc"), 4);
        // Additive over whitespace.
        let a = "Some words, and more.";
        let b = "知识 库 x";
        assert_eq!(
            count_tokens(&format!("{a} \n{b}")),
            count_tokens(a) + count_tokens(b)
        );
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(ChunkOptions::default().validate(), Ok(()));
        assert_eq!(opts(16, 7).validate(), Ok(()));
        let small = opts(8, 0).validate().unwrap_err();
        assert!(small.contains("at least 16"), "{small}");
        let overlap = opts(100, 50).validate().unwrap_err();
        assert!(overlap.contains("at most 49"), "{overlap}");
        // Invalid options still chunk.
        let doc = loaded("a.md", "one two three four five six seven eight nine ten");
        let chunks = chunk(&doc, &opts(0, 1000));
        check(&doc, &chunks, 16);
    }

    #[test]
    fn headings_start_chunks_and_give_the_path() {
        let text = "\
Intro text.

# Understanding Ownership

Ownership is a set of rules.

## What Is Ownership?

Memory is managed through a system of ownership.

### The Stack and the Heap ###

Both are parts of memory.

## References

A reference is like a pointer.
";
        let doc = loaded("book.md", text);
        let chunks = chunk(&doc, &ChunkOptions::default());
        check(&doc, &chunks, 512);
        let paths: Vec<Vec<&str>> = chunks
            .iter()
            .map(|chunk| chunk.heading_path.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            paths,
            vec![
                vec![],
                vec!["Understanding Ownership"],
                vec!["Understanding Ownership", "What Is Ownership?"],
                vec![
                    "Understanding Ownership",
                    "What Is Ownership?",
                    "The Stack and the Heap"
                ],
                vec!["Understanding Ownership", "References"],
            ]
        );
        assert_eq!(chunks[0].text, "Intro text.");
        assert_eq!(
            chunks[1].text,
            "# Understanding Ownership\n\nOwnership is a set of rules."
        );
        assert_eq!(
            chunks[4].text,
            "## References\n\nA reference is like a pointer."
        );
        assert!(chunks.iter().all(|chunk| chunk.page.is_none()));
    }

    #[test]
    fn a_heading_without_body_stays_with_what_follows() {
        let text = "# Part One\n\n## Chapter 1\n\nBody of chapter one.\n\n# Part Two\n";
        let doc = loaded("a.md", text);
        let chunks = chunk(&doc, &ChunkOptions::default());
        check(&doc, &chunks, 512);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0].text,
            "# Part One\n\n## Chapter 1\n\nBody of chapter one."
        );
        assert_eq!(chunks[0].heading_path, ["Part One", "Chapter 1"]);
        // A heading at the very end is still content.
        assert_eq!(chunks[1].text, "# Part Two");
        assert_eq!(chunks[1].heading_path, ["Part Two"]);
    }

    #[test]
    fn code_fences_hide_headings_and_stay_whole() {
        let text = "# Setup\n\nRun this:\n\n```sh\n# install\n\npip install x\n```\n\nDone.\n";
        let doc = loaded("a.md", text);
        let chunks = chunk(&doc, &ChunkOptions::default());
        check(&doc, &chunks, 512);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].heading_path, ["Setup"]);

        // Small chunks: the code block is one block, so it is never split at its blank
        // line while it fits.
        let chunks = chunk(&doc, &opts(16, 0));
        check(&doc, &chunks, 16);
        assert!(
            chunks.iter().any(|chunk| chunk
                .text
                .contains("```sh\n# install\n\npip install x\n```")),
            "{chunks:#?}"
        );
    }

    #[test]
    fn hashes_in_code_are_comments() {
        let text = "# a comment\nx = 1\n\n# another\ny = 2\n";
        let doc = loaded("a.py", text);
        let chunks = chunk(&doc, &ChunkOptions::default());
        check(&doc, &chunks, 512);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].heading_path.is_empty());
    }

    #[test]
    fn paragraphs_are_packed_whole() {
        let para = "This sentence is one paragraph of a few tokens.";
        let size = 3 * count_tokens(para) + 2;
        let text = [para; 5].join("\n\n");
        let doc = loaded("a.txt", &text);
        let chunks = chunk(&doc, &opts(size, 0));
        check(&doc, &chunks, size);
        // Three paragraphs fit, the next two make the second chunk.
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text, [para; 3].join("\n\n"));
        assert_eq!(chunks[1].text, [para; 2].join("\n\n"));
    }

    #[test]
    fn long_paragraphs_split_at_sentences() {
        let sentences: Vec<String> = (0..40)
            .map(|i| format!("Sentence number {i} says something short."))
            .collect();
        let text = sentences.join(" ");
        let doc = loaded("a.txt", &text);
        let chunks = chunk(&doc, &opts(64, 0));
        check(&doc, &chunks, 64);
        assert!(chunks.len() > 3);
        for chunk in &chunks {
            assert!(chunk.text.starts_with("Sentence"), "{:?}", chunk.text);
            assert!(chunk.text.ends_with('.'), "{:?}", chunk.text);
        }
    }

    #[test]
    fn overlap_repeats_the_end_of_the_previous_chunk() {
        let sentences: Vec<String> = (0..60)
            .map(|i| format!("Sentence number {i} says something short."))
            .collect();
        let text = sentences.join(" ");
        let doc = loaded("a.txt", &text);
        let chunks = chunk(&doc, &opts(64, 16));
        check(&doc, &chunks, 64);
        assert_eq!(chunks[0].text, &text[chunks[0].start..chunks[0].end]);
        for pair in chunks.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            let lead = next.end - next.text.len();
            assert!(lead < next.start, "no overlap in {next:?}");
            assert!(lead >= prev.start);
            // The overlap starts a sentence and is at most the overlap setting.
            assert!(next.text.starts_with("Sentence"), "{:?}", next.text);
            assert!(count_tokens(&text[lead..prev.end]) <= 16);
        }
    }

    #[test]
    fn overlap_gives_way_to_whole_paragraphs() {
        let para = "A paragraph that fits a chunk by itself, but not with the overlap too.";
        let size = count_tokens(para) + 2;
        let text = [para; 4].join("\n\n");
        let doc = loaded("a.txt", &text);
        let chunks = chunk(&doc, &opts(size, 6));
        check(&doc, &chunks, size);
        assert_eq!(chunks.len(), 4);
        for chunk in &chunks {
            assert!(chunk.text.ends_with(para), "{:?}", chunk.text);
        }
        // Under half the overlap setting fits: none at all.
        let chunks = chunk(&doc, &opts(size, 7));
        check(&doc, &chunks, size);
        assert!(chunks.iter().all(|chunk| chunk.text == para), "{chunks:#?}");
    }

    #[test]
    fn no_overlap_across_headings() {
        let body = "word ".repeat(100);
        let text = format!("# A\n\n{body}\n\n# B\n\n{body}");
        let doc = loaded("a.md", &text);
        let chunks = chunk(&doc, &opts(32, 8));
        check(&doc, &chunks, 32);
        let first_b = chunks
            .iter()
            .position(|chunk| chunk.heading_path == ["B"])
            .expect("a chunk under B");
        assert!(chunks[first_b].text.starts_with("# B"));
        assert_eq!(
            chunks[first_b].text,
            &text[chunks[first_b].start..chunks[first_b].end]
        );
    }

    #[test]
    fn long_words_and_cjk_are_cut() {
        let blob = "x".repeat(5000);
        let doc = loaded("a.txt", &blob);
        let chunks = chunk(&doc, &opts(16, 4));
        check(&doc, &chunks, 16);
        assert!(chunks.len() > 50);

        let cjk = "知识库是一个用来存放文档的地方".repeat(40);
        let doc = loaded("a.txt", &cjk);
        let chunks = chunk(&doc, &opts(20, 4));
        check(&doc, &chunks, 20);
        // Cut between characters, every chunk but the last is nearly full.
        let (last, full) = chunks.split_last().expect("chunks");
        assert!(full.iter().all(|chunk| chunk.tokens >= 18), "{chunks:#?}");
        assert!(last.tokens > 0);

        let sentences = "这是第一句。这是第二句！这是第三句？".repeat(20);
        let doc = loaded("a.txt", &sentences);
        let chunks = chunk(&doc, &opts(20, 0));
        check(&doc, &chunks, 20);
        assert!(
            chunks
                .iter()
                .all(|chunk| chunk.text.ends_with(['。', '！', '？'])),
            "{chunks:#?}"
        );
    }

    #[test]
    fn pdf_pages_are_never_crossed() {
        let pages = [
            "First page text. It goes on.",
            "",
            "Third page.\n\n# Heading\n\nMore.",
        ];
        let mut text = String::new();
        let mut spans = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            let start = text.len();
            text.push_str(page);
            spans.push(PageSpan {
                page: u32::try_from(i + 1).unwrap_or(0),
                start,
                end: text.len(),
            });
            text.push_str("\n\n");
        }
        let mut doc = loaded("a.md", &text);
        doc.kind = DocKind::Pdf;
        doc.pages = spans.clone();
        // A span that does not fit the text is skipped.
        doc.pages.push(PageSpan {
            page: 9,
            start: 5,
            end: 1_000_000,
        });
        let chunks = chunk(&doc, &ChunkOptions::default());
        check(&doc, &chunks, 512);
        let summary: Vec<(Option<u32>, &str)> = chunks
            .iter()
            .map(|chunk| (chunk.page, chunk.text.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some(1), "First page text. It goes on."),
                (Some(3), "Third page."),
                (Some(3), "# Heading\n\nMore."),
            ]
        );
        for chunk in &chunks {
            let span = spans.iter().find(|span| Some(span.page) == chunk.page);
            let span = span.expect("a page");
            assert!(span.start <= chunk.start && chunk.end <= span.end);
        }

        // Small chunks with overlap stay on their page too.
        let long_page = "Words on a page go on and on. ".repeat(30);
        let text = format!("{long_page}\n{long_page}");
        let mut doc = loaded("a.md", &text);
        doc.kind = DocKind::Pdf;
        let half = long_page.len();
        doc.pages = vec![
            PageSpan {
                page: 1,
                start: 0,
                end: half,
            },
            PageSpan {
                page: 2,
                start: half + 1,
                end: text.len(),
            },
        ];
        let chunks = chunk(&doc, &opts(24, 8));
        check(&doc, &chunks, 24);
        for chunk in &chunks {
            let lead = chunk.end - chunk.text.len();
            match chunk.page {
                Some(1) => assert!(chunk.end <= half),
                Some(2) => assert!(lead > half),
                other => panic!("page {other:?}"),
            }
        }
    }

    #[test]
    fn empty_and_blank_give_nothing() {
        for text in ["", "   ", "\n\n\n", " \t \n \u{3000}\n"] {
            let doc = loaded("a.md", text);
            assert_eq!(
                chunk(&doc, &ChunkOptions::default()),
                Vec::new(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn headings_are_recognised_like_markdown() {
        assert_eq!(heading("# Title"), Some((1, "Title")));
        assert_eq!(heading("###### Six"), Some((6, "Six")));
        assert_eq!(heading("####### Seven"), None);
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("   ## Indented"), Some((2, "Indented")));
        assert_eq!(heading("    # Code"), None);
        assert_eq!(heading("## Closed ##"), Some((2, "Closed")));
        assert_eq!(heading("## C#"), Some((2, "C#")));
        assert_eq!(heading("#"), Some((1, "")));
        assert_eq!(fence_open("```rust"), Some((b'`', 3)));
        assert_eq!(fence_open("~~~~"), Some((b'~', 4)));
        assert_eq!(fence_open("``not`"), None);
        assert_eq!(fence_open("```a`b"), None);
        assert!(fence_closes("````", (b'`', 3)));
        assert!(!fence_closes("``", (b'`', 3)));
        assert!(!fence_closes("``` x", (b'`', 3)));
    }

    #[test]
    fn any_input_keeps_the_invariants() {
        // A deterministic mix of the characters that matter to the chunker.
        let pieces = [
            "# ",
            "## ",
            "```",
            "~~~",
            "\n",
            "\n\n",
            " ",
            "word",
            "longerwordhere",
            ". ",
            "! ",
            "。",
            "知",
            "识",
            "é",
            "\u{301}",
            "👍",
            "\t",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            ",",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for round in 0..300 {
            let mut text = String::new();
            for _ in 0..(round % 50) * 8 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[usize::try_from(state % 20).unwrap_or(0)]);
            }
            for (size, overlap) in [(16, 0), (16, 7), (40, 10), (512, 64)] {
                for name in ["a.md", "a.rs"] {
                    let doc = loaded(name, &text);
                    let chunks = chunk(&doc, &opts(size, overlap));
                    check(&doc, &chunks, size);
                }
            }
        }
    }
}
