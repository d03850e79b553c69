//! Text for keyword search with SQLite FTS5's `unicode61` tokenizer.
//!
//! `unicode61` splits text at spaces and punctuation, which suits scripts that put spaces
//! between words. Chinese, Japanese and Korean do not (or, for Korean, attach particles to
//! words), so a run of their characters would become one long token that no query
//! matches. [`index_text`] therefore writes each such character as its own token, and
//! [`match_query`] asks for runs of them as phrases of single characters, which match the
//! same characters side by side.
//!
//! [`match_query`] also makes free user input safe to hand to `MATCH`: every term is a
//! quoted string, so FTS5 syntax in the input (`AND`, `NEAR`, `*`, `:`, `^`, parentheses,
//! quotes) is searched for as text instead of being interpreted.

use std::collections::HashSet;

/// English words too common to help a keyword search; dropped from queries that have
/// other terms.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "in",
    "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where",
    "which", "who", "why", "with",
];

/// The most terms a query has; a pasted page of text must not become a query that takes
/// seconds.
const MAX_TERMS: usize = 64;

/// CJK runs up to this many characters are asked for as one phrase; longer runs (whole
/// sentences, which almost never occur verbatim) as overlapping two-character phrases.
const MAX_CJK_PHRASE: usize = 4;

/// Whether `c` is a Chinese, Japanese or Korean character written without spaces around
/// it: Han ideographs, kana, Hangul and Bopomofo (not CJK punctuation or full-width Latin).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1100..=0x11FF // Hangul Jamo
            | 0x2E80..=0x2FDF // CJK and Kangxi radicals
            | 0x3005..=0x3007 // 々 〆 〇
            | 0x3021..=0x3029 // Hangzhou numerals
            | 0x3031..=0x3035 // kana repeat marks
            | 0x3038..=0x303C
            | 0x3041..=0x309F // Hiragana
            | 0x30A1..=0x30FA // Katakana (without the double hyphen and the middle dot)
            | 0x30FC..=0x30FF
            | 0x3105..=0x312F // Bopomofo
            | 0x3131..=0x318E // Hangul compatibility Jamo
            | 0x31A0..=0x31BF // Bopomofo extended
            | 0x31F0..=0x31FF // Katakana phonetic extensions
            | 0x3400..=0x4DBF // CJK extension A
            | 0x4E00..=0x9FFF // CJK unified ideographs
            | 0xA960..=0xA97F // Hangul Jamo extended A
            | 0xAC00..=0xD7FF // Hangul syllables, Jamo extended B
            | 0xF900..=0xFAFF // CJK compatibility ideographs
            | 0xFF66..=0xFF9F // half-width Katakana
            | 0xFFA0..=0xFFDC // half-width Hangul
            | 0x1B000..=0x1B16F // Kana supplement and extensions
            | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

/// The text to store in the FTS5 index for `text`: each Chinese, Japanese or Korean
/// character is set apart from its neighbours by a space, so `unicode61` makes it a token
/// of its own; everything else is unchanged.
///
/// Only spaces are added, and only between a CJK character and a letter or digit next to
/// it, so `"Rust的所有权"` becomes `"Rust 的 所 有 权"`. Byte offsets into the result do
/// not match offsets into `text`: keep the original text for display and citations.
pub fn index_text(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut prev_cjk = false;
    let mut prev_token = false;
    for c in text.chars() {
        let cjk = is_cjk(c);
        let token = cjk || c.is_alphanumeric();
        // A space is needed only where two token characters would otherwise join.
        if (cjk && prev_token) || (prev_cjk && token) {
            out.push(' ');
        }
        out.push(c);
        prev_cjk = cjk;
        prev_token = token;
    }
    out
}

/// One term of a query: the text of a quoted FTS5 string, before escaping.
struct Term {
    text: String,
    stopword: bool,
}

/// Turns what a person typed into an FTS5 `MATCH` expression for an index written with
/// [`index_text`], or `None` when nothing searchable remains (empty input, only
/// punctuation).
///
/// - Input is split at whitespace; each word, with punctuation trimmed from its ends,
///   becomes a quoted string (`"don't"`, `"foo-bar"`), which FTS5 reads as a phrase of
///   the word's tokens. Quotes inside are doubled, so nothing in the input is read as
///   FTS5 syntax: `NEAR(a b)`, `col:x`, `x*`, `^x` and `AND` are searched for as words.
/// - A run of CJK characters becomes a phrase of its characters (`知识库` →
///   `"知 识 库"`); a run longer than four characters (a sentence typed as a question)
///   becomes its overlapping pairs (`"什 么"`, `"么 是"`, ...), since the whole run rarely
///   appears verbatim.
/// - Terms are joined with `OR`, so a passage matching any term is found and BM25 ranks
///   those matching more (and rarer) terms first.
/// - Common English words (`the`, `is`, `what`, ...) are dropped when other terms
///   remain; repeated terms are dropped; at most 64 terms are kept.
///
/// Case is kept: `unicode61` folds case (and, with `remove_diacritics 2`, accents) on
/// both sides.
pub fn match_query(query: &str) -> Option<String> {
    match_terms(&query_terms(query))
}

/// The terms [`match_query`] searches for, before they are quoted: words (punctuation
/// trimmed from their ends) and CJK phrases (characters spaced apart), without repeats
/// and without common English words when other terms remain. A caller may drop some
/// (say, words in most passages, which cost much and rank little) and build the query
/// with [`match_terms`].
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<Term> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut add = |text: String, stopword: bool| {
        if terms.len() < MAX_TERMS && seen.insert(text.to_lowercase()) {
            terms.push(Term { text, stopword });
        }
    };

    // Control characters separate words like spaces; none reaches the query.
    for word in query.split(|c: char| c.is_whitespace() || c.is_control()) {
        let mut rest = word;
        while let Some(first) = rest.chars().next() {
            let cjk = is_cjk(first);
            let len = rest
                .char_indices()
                .find(|&(_, c)| is_cjk(c) != cjk)
                .map_or(rest.len(), |(i, _)| i);
            let (segment, tail) = rest.split_at(len);
            rest = tail;
            if cjk {
                let chars: Vec<char> = segment.chars().collect();
                if chars.len() <= MAX_CJK_PHRASE {
                    add(spaced(&chars), false);
                } else {
                    for pair in chars.windows(2) {
                        add(spaced(pair), false);
                    }
                }
            } else {
                let trimmed = segment.trim_matches(|c: char| !c.is_alphanumeric());
                if !trimmed.is_empty() {
                    let stopword = trimmed.is_ascii()
                        && STOPWORDS.contains(&trimmed.to_ascii_lowercase().as_str());
                    add(trimmed.to_owned(), stopword);
                }
            }
        }
    }

    let keep_stopwords = terms.iter().all(|term| term.stopword);
    terms
        .into_iter()
        .filter(|term| keep_stopwords || !term.stopword)
        .map(|term| term.text)
        .collect()
}

/// An FTS5 MATCH expression finding passages with any of `terms`: each quoted (inner
/// quotes doubled, so nothing is read as FTS5 syntax) and joined with `OR`; `None` when
/// there are none.
pub fn match_terms(terms: &[String]) -> Option<String> {
    let quoted: Vec<String> = terms
        .iter()
        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect();
    if quoted.is_empty() {
        None
    } else {
        Some(quoted.join(" OR "))
    }
}

/// Characters joined by single spaces.
fn spaced(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len() * 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_text_spaces_cjk_only() {
        assert_eq!(
            index_text("plain ASCII, unchanged."),
            "plain ASCII, unchanged."
        );
        assert_eq!(index_text("知识库"), "知 识 库");
        assert_eq!(index_text("Rust的所有权"), "Rust 的 所 有 权");
        assert_eq!(index_text("所有权(ownership)"), "所 有 权(ownership)");
        assert_eq!(index_text("你好，世界。"), "你 好，世 界。");
        assert_eq!(index_text("データベース"), "デ ー タ ベ ー ス");
        assert_eq!(index_text("한국어 문장"), "한 국 어 문 장");
        assert_eq!(index_text("café naïve"), "café naïve");
        assert_eq!(index_text("版本2024年"), "版 本 2024 年");
        assert_eq!(index_text(""), "");
    }

    #[test]
    fn index_text_keeps_existing_spaces() {
        assert_eq!(index_text("中 文"), "中 文");
        assert_eq!(index_text("a 中\n文 b"), "a 中\n文 b");
    }

    #[test]
    fn words_are_quoted_and_joined_with_or() {
        assert_eq!(
            match_query("ownership borrowing").as_deref(),
            Some(r#""ownership" OR "borrowing""#)
        );
        assert_eq!(match_query("  Rust  ").as_deref(), Some(r#""Rust""#));
    }

    #[test]
    fn cjk_runs_become_phrases() {
        assert_eq!(match_query("知识库").as_deref(), Some(r#""知 识 库""#));
        assert_eq!(
            match_query("Rust的所有权").as_deref(),
            Some(r#""Rust" OR "的 所 有 权""#)
        );
        assert_eq!(
            match_query("知识库，向量").as_deref(),
            Some(r#""知 识 库" OR "向 量""#)
        );
        assert_eq!(match_query("データ").as_deref(), Some(r#""デ ー タ""#));
    }

    #[test]
    fn long_cjk_runs_become_pairs() {
        assert_eq!(
            match_query("什么是所有权").as_deref(),
            Some(r#""什 么" OR "么 是" OR "是 所" OR "所 有" OR "有 权""#)
        );
        // Repeated pairs are asked for once.
        assert_eq!(match_query("哈哈哈哈哈").as_deref(), Some(r#""哈 哈""#));
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(match_query(r#"say"hi"#).as_deref(), Some(r#""say""hi""#));
        // Quotes at the ends are punctuation and trimmed.
        assert_eq!(
            match_query(r#""exact phrase""#).as_deref(),
            Some(r#""exact" OR "phrase""#)
        );
        assert_eq!(match_query(r#"a"""b"#).as_deref(), Some(r#""a""""""b""#));
    }

    #[test]
    fn fts5_syntax_is_taken_literally() {
        // `AND` and `OR` are words (common ones, so dropped here); `NOT` is kept.
        assert_eq!(
            match_query("cats AND dogs").as_deref(),
            Some(r#""cats" OR "dogs""#)
        );
        assert_eq!(
            match_query("NOT cats OR dogs").as_deref(),
            Some(r#""NOT" OR "cats" OR "dogs""#)
        );
        assert_eq!(match_query("AND").as_deref(), Some(r#""AND""#));
        assert_eq!(
            match_query("NEAR(one two, 5)").as_deref(),
            Some(r#""NEAR(one" OR "two" OR "5""#)
        );
        assert_eq!(match_query("pre*").as_deref(), Some(r#""pre""#));
        assert_eq!(match_query("^start").as_deref(), Some(r#""start""#));
        assert_eq!(
            match_query("body:secret").as_deref(),
            Some(r#""body:secret""#)
        );
        assert_eq!(
            match_query("{x y}: z").as_deref(),
            Some(r#""x" OR "y" OR "z""#)
        );
        assert_eq!(match_query("(x)").as_deref(), Some(r#""x""#));
        assert_eq!(match_query("a+b - c").as_deref(), Some(r#""a+b" OR "c""#));
    }

    #[test]
    fn every_term_is_one_well_formed_string() {
        let inputs = [
            r#"" "" """ "#,
            "\"unbalanced",
            "x\"y\"z",
            "AND OR NOT NEAR",
            "*:^()+-{}[]",
            "mixed 知识\"库 \"quote",
            "\u{0}nul\u{7}bell\ttab",
        ];
        for input in inputs {
            let Some(query) = match_query(input) else {
                continue;
            };
            for term in query.split(" OR ") {
                assert!(term.len() >= 2, "{input:?} gave {query:?}");
                assert!(term.starts_with('"') && term.ends_with('"'), "{query:?}");
                let inner = &term[1..term.len() - 1];
                // Inside, quotes only come in escaped pairs.
                assert_eq!(inner.replace("\"\"", "").find('"'), None, "{query:?}");
                assert!(!inner.is_empty(), "{query:?}");
                assert!(!inner.chars().any(char::is_control), "{query:?}");
            }
        }
    }

    #[test]
    fn nothing_searchable_is_none() {
        assert_eq!(match_query(""), None);
        assert_eq!(match_query("   \n\t"), None);
        assert_eq!(match_query("*** ( ) \"\" ^ :"), None);
        assert_eq!(match_query("。，！"), None);
    }

    #[test]
    fn stopwords_go_only_when_other_terms_remain() {
        assert_eq!(
            match_query("What is the ownership of a value?").as_deref(),
            Some(r#""ownership" OR "value""#)
        );
        assert_eq!(
            match_query("the a is").as_deref(),
            Some(r#""the" OR "a" OR "is""#)
        );
        // Only whole words are stopwords.
        assert_eq!(match_query("theme").as_deref(), Some(r#""theme""#));
    }

    #[test]
    fn repeats_are_dropped_ignoring_case() {
        assert_eq!(
            match_query("Rust rust RUST crab").as_deref(),
            Some(r#""Rust" OR "crab""#)
        );
    }

    #[test]
    fn term_count_is_bounded() {
        let long: String = (0..500).map(|i| format!("w{i} ")).collect();
        let query = match_query(&long).unwrap_or_default();
        assert_eq!(query.split(" OR ").count(), MAX_TERMS);
    }

    #[test]
    fn cjk_detection() {
        for c in ['中', '々', 'あ', 'ア', 'ー', '한', 'ㄱ', 'ｱ', '𠀀'] {
            assert!(is_cjk(c), "{c}");
        }
        for c in ['a', 'é', '。', '，', '・', 'Ａ', '1', ' ', 'я'] {
            assert!(!is_cjk(c), "{c}");
        }
    }
}
