//! A small server-side syntax highlighter for fenced code blocks.
//!
//! It is a hand-written scanner per language family rather than syntect or tree-sitter: those
//! would add megabytes to the binary for colours the UI only needs to be roughly right.
//!
//! The one hard rule is that highlighting is *lossless*: every byte of the input lands in the
//! output exactly once and in order, only wrapped in `<span class="tok-…">` and escaped. Each
//! scanner step therefore takes a non-empty slice `code[start..end]` that begins where the
//! previous one ended, and all slice ends sit on ASCII bytes or char boundaries.

use crate::escape::escape_into;

/// The token classes the highlighter emits; the UI styles these.
pub(crate) const TOKEN_CLASSES: [&str; 7] = [
    "tok-kw", "tok-str", "tok-com", "tok-num", "tok-ty", "tok-fn", "tok-op",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Kw,
    Str,
    Com,
    Num,
    Ty,
    Fn,
    Op,
}

impl Tok {
    fn class(self) -> &'static str {
        match self {
            Tok::Kw => TOKEN_CLASSES[0],
            Tok::Str => TOKEN_CLASSES[1],
            Tok::Com => TOKEN_CLASSES[2],
            Tok::Num => TOKEN_CLASSES[3],
            Tok::Ty => TOKEN_CLASSES[4],
            Tok::Fn => TOKEN_CLASSES[5],
            Tok::Op => TOKEN_CLASSES[6],
        }
    }
}

/// Language-specific rules that do not fit the shared table-driven scanner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Plain,
    Rust,
    /// `#include` and friends at the start of a line.
    C,
    /// `$var`, `${var}`, `$1`.
    Shell,
    /// `@media`, `#fff`, property names inside `{}`.
    Css,
    /// `key:` at the start of a mapping entry.
    Yaml,
    /// `[table]` headers and `key =`.
    Toml,
}

/// The table that drives [`scan`] for one language family.
struct Spec {
    keywords: &'static [&'static str],
    types: &'static [&'static str],
    line_comments: &'static [&'static str],
    block_comment: Option<(&'static str, &'static str)>,
    /// Bytes that open a string closed by the same byte.
    quotes: &'static [u8],
    /// Quotes whose strings may span lines (others stop at the end of the line, so one stray
    /// quote in a streaming message does not colour the rest of the block).
    multiline_quotes: &'static [u8],
    /// Quotes in which a backslash is an ordinary character.
    raw_quotes: &'static [u8],
    /// `"""…"""` and `'''…'''`.
    triple_quotes: bool,
    /// Identifier prefixes that may directly precede a quote (`r"…"`, `f'…'`).
    string_prefixes: &'static [&'static str],
    ignore_case: bool,
    /// `CamelCase` identifiers are type names.
    caps_are_types: bool,
    /// `#` starts a comment only at the start of a line or after whitespace (`$#`, `a#b`).
    hash_needs_space: bool,
    /// `-` may continue an identifier (`background-color`, `my-key`).
    dash_in_ident: bool,
    /// `$` may appear in identifiers (JavaScript).
    dollar_in_ident: bool,
    flavor: Flavor,
}

const BASE: Spec = Spec {
    keywords: &[],
    types: &[],
    line_comments: &["//"],
    block_comment: Some(("/*", "*/")),
    quotes: b"\"'",
    multiline_quotes: b"",
    raw_quotes: b"",
    triple_quotes: false,
    string_prefixes: &[],
    ignore_case: false,
    caps_are_types: false,
    hash_needs_space: false,
    dash_in_ident: false,
    dollar_in_ident: false,
    flavor: Flavor::Plain,
};

const RUST: Spec = Spec {
    keywords: &[
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "yield",
        "union",
        "macro_rules",
    ],
    types: &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        "f32", "f64", "bool", "char", "str", "Self",
    ],
    quotes: b"\"",
    multiline_quotes: b"\"",
    caps_are_types: true,
    flavor: Flavor::Rust,
    ..BASE
};

const PYTHON: Spec = Spec {
    keywords: &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield", "match", "case", "self",
    ],
    types: &[
        "int",
        "float",
        "str",
        "bytes",
        "bool",
        "list",
        "dict",
        "set",
        "tuple",
        "object",
        "type",
        "complex",
        "frozenset",
        "bytearray",
    ],
    line_comments: &["#"],
    block_comment: None,
    triple_quotes: true,
    string_prefixes: &[
        "r", "b", "f", "u", "rb", "br", "fr", "rf", "R", "B", "F", "U", "Rb", "bR", "RB", "BR",
        "Br", "rB", "fR", "Rf", "FR", "RF", "Fr", "rF",
    ],
    caps_are_types: true,
    ..BASE
};

const JS: Spec = Spec {
    keywords: &[
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "export",
        "extends",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "let",
        "new",
        "return",
        "super",
        "switch",
        "this",
        "throw",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "async",
        "await",
        "of",
        "static",
        "get",
        "set",
        "true",
        "false",
        "null",
        "undefined",
        "NaN",
        "interface",
        "type",
        "enum",
        "implements",
        "private",
        "protected",
        "public",
        "readonly",
        "declare",
        "namespace",
        "abstract",
        "as",
        "from",
        "keyof",
        "infer",
        "is",
        "satisfies",
    ],
    types: &[
        "string", "number", "boolean", "any", "unknown", "never", "object", "symbol", "bigint",
    ],
    quotes: b"\"'`",
    multiline_quotes: b"`",
    caps_are_types: true,
    dollar_in_ident: true,
    ..BASE
};

const JSON: Spec = Spec {
    keywords: &["true", "false", "null"],
    quotes: b"\"",
    ..BASE
};

const SHELL: Spec = Spec {
    keywords: &[
        "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until",
        "do", "done", "in", "function", "return", "local", "export", "readonly", "declare",
        "unset", "shift", "exit", "break", "continue", "source", "alias", "time",
    ],
    line_comments: &["#"],
    block_comment: None,
    quotes: b"\"'",
    multiline_quotes: b"\"'",
    raw_quotes: b"'",
    hash_needs_space: true,
    flavor: Flavor::Shell,
    ..BASE
};

const C: Spec = Spec {
    keywords: &[
        "auto",
        "break",
        "case",
        "const",
        "continue",
        "default",
        "do",
        "else",
        "enum",
        "extern",
        "for",
        "goto",
        "if",
        "inline",
        "register",
        "restrict",
        "return",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "volatile",
        "while",
        "true",
        "false",
        "NULL",
        "nullptr",
        "class",
        "namespace",
        "template",
        "typename",
        "public",
        "private",
        "protected",
        "virtual",
        "override",
        "final",
        "new",
        "delete",
        "this",
        "using",
        "operator",
        "friend",
        "try",
        "catch",
        "throw",
        "constexpr",
        "noexcept",
        "static_cast",
        "dynamic_cast",
        "reinterpret_cast",
        "const_cast",
        "explicit",
        "mutable",
        "decltype",
        "concept",
        "requires",
        "co_await",
        "co_return",
        "co_yield",
    ],
    types: &[
        "char", "short", "int", "long", "float", "double", "void", "bool", "unsigned", "signed",
        "size_t", "ssize_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t",
        "uint32_t", "uint64_t", "wchar_t", "auto",
    ],
    flavor: Flavor::C,
    ..BASE
};

const GO: Spec = Spec {
    keywords: &[
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
        "true",
        "false",
        "nil",
        "iota",
    ],
    types: &[
        "bool",
        "byte",
        "complex64",
        "complex128",
        "error",
        "float32",
        "float64",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "rune",
        "string",
        "uint",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "uintptr",
        "any",
    ],
    quotes: b"\"'`",
    multiline_quotes: b"`",
    raw_quotes: b"`",
    ..BASE
};

const JAVA: Spec = Spec {
    keywords: &[
        "abstract",
        "assert",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "default",
        "do",
        "else",
        "enum",
        "extends",
        "final",
        "finally",
        "for",
        "goto",
        "if",
        "implements",
        "import",
        "instanceof",
        "interface",
        "native",
        "new",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "static",
        "strictfp",
        "super",
        "switch",
        "synchronized",
        "this",
        "throw",
        "throws",
        "transient",
        "try",
        "volatile",
        "while",
        "var",
        "record",
        "sealed",
        "permits",
        "yield",
        "true",
        "false",
        "null",
    ],
    types: &[
        "boolean", "byte", "char", "short", "int", "long", "float", "double", "void",
    ],
    caps_are_types: true,
    ..BASE
};

const SQL: Spec = Spec {
    keywords: &[
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "insert",
        "into",
        "values",
        "update",
        "set",
        "delete",
        "create",
        "table",
        "drop",
        "alter",
        "add",
        "column",
        "index",
        "primary",
        "key",
        "foreign",
        "references",
        "join",
        "inner",
        "left",
        "right",
        "outer",
        "full",
        "cross",
        "on",
        "as",
        "group",
        "by",
        "order",
        "having",
        "limit",
        "offset",
        "union",
        "all",
        "distinct",
        "case",
        "when",
        "then",
        "else",
        "end",
        "is",
        "null",
        "like",
        "in",
        "between",
        "exists",
        "begin",
        "commit",
        "rollback",
        "transaction",
        "view",
        "trigger",
        "if",
        "default",
        "unique",
        "check",
        "constraint",
        "asc",
        "desc",
        "with",
        "returning",
        "true",
        "false",
    ],
    types: &[
        "int",
        "integer",
        "bigint",
        "smallint",
        "text",
        "varchar",
        "char",
        "boolean",
        "date",
        "timestamp",
        "real",
        "float",
        "double",
        "numeric",
        "decimal",
        "blob",
        "serial",
        "uuid",
        "json",
        "jsonb",
    ],
    line_comments: &["--"],
    quotes: b"'\"`",
    raw_quotes: b"'\"`",
    multiline_quotes: b"'",
    ignore_case: true,
    ..BASE
};

const CSS: Spec = Spec {
    keywords: &["important", "inherit", "initial", "unset", "none", "auto"],
    line_comments: &[],
    dash_in_ident: true,
    flavor: Flavor::Css,
    ..BASE
};

const YAML: Spec = Spec {
    keywords: &["true", "false", "null", "yes", "no", "on", "off"],
    line_comments: &["#"],
    block_comment: None,
    raw_quotes: b"'",
    ignore_case: true,
    hash_needs_space: true,
    dash_in_ident: true,
    flavor: Flavor::Yaml,
    ..BASE
};

const TOML: Spec = Spec {
    keywords: &["true", "false", "inf", "nan"],
    line_comments: &["#"],
    block_comment: None,
    raw_quotes: b"'",
    triple_quotes: true,
    dash_in_ident: true,
    flavor: Flavor::Toml,
    ..BASE
};

/// Unknown languages: most code people paste is C-like enough for this to help.
const GENERIC: Spec = Spec {
    keywords: &[
        "if",
        "else",
        "for",
        "while",
        "do",
        "return",
        "break",
        "continue",
        "function",
        "fn",
        "func",
        "fun",
        "def",
        "class",
        "struct",
        "enum",
        "interface",
        "let",
        "var",
        "val",
        "const",
        "new",
        "true",
        "false",
        "null",
        "nil",
        "none",
        "this",
        "self",
        "import",
        "export",
        "package",
        "public",
        "private",
        "protected",
        "static",
        "switch",
        "case",
        "try",
        "catch",
        "throw",
        "using",
        "namespace",
        "module",
        "end",
    ],
    quotes: b"\"'`",
    multiline_quotes: b"`",
    caps_are_types: true,
    ..BASE
};

enum Highlighter {
    None,
    Markup,
    Code(&'static Spec),
}

fn highlighter_for(lang: &str) -> Highlighter {
    match lang {
        "" | "text" | "txt" | "plain" | "plaintext" | "md" | "markdown" | "diff" | "patch"
        | "log" | "output" | "csv" | "tsv" | "none" | "nohighlight" | "ansi" => Highlighter::None,
        "html" | "htm" | "xml" | "xhtml" | "svg" | "xsl" | "xslt" | "plist" | "vue" | "svelte" => {
            Highlighter::Markup
        }
        "rust" | "rs" => Highlighter::Code(&RUST),
        "python" | "py" | "python3" | "py3" | "pyi" => Highlighter::Code(&PYTHON),
        "javascript" | "js" | "jsx" | "mjs" | "cjs" | "node" | "typescript" | "ts" | "tsx"
        | "mts" | "cts" => Highlighter::Code(&JS),
        "json" | "jsonc" | "json5" | "jsonl" | "geojson" => Highlighter::Code(&JSON),
        "bash" | "sh" | "shell" | "zsh" | "ksh" | "shellscript" | "console" => {
            Highlighter::Code(&SHELL)
        }
        "c" | "h" | "cpp" | "c++" | "cxx" | "cc" | "hpp" | "hh" | "hxx" | "objc" | "cuda"
        | "arduino" => Highlighter::Code(&C),
        "go" | "golang" => Highlighter::Code(&GO),
        "java" => Highlighter::Code(&JAVA),
        "sql" | "mysql" | "postgres" | "postgresql" | "psql" | "sqlite" | "plsql" | "tsql" => {
            Highlighter::Code(&SQL)
        }
        "css" | "scss" | "less" => Highlighter::Code(&CSS),
        "yaml" | "yml" => Highlighter::Code(&YAML),
        "toml" | "ini" | "cfg" => Highlighter::Code(&TOML),
        _ => Highlighter::Code(&GENERIC),
    }
}

/// Reduces a fence's info string (```` ```Rust,ignore ````) to a safe language token:
/// the first word, lowercased, limited to `[a-z0-9+-]` and 32 characters. `None` if empty.
pub(crate) fn language_token(info: &str) -> Option<String> {
    let word = info
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
        .next()
        .unwrap_or("");
    let word = word.to_ascii_lowercase();
    // `#` is not allowed in the token; keep these two recognisable rather than "c" and "f".
    let word = match word.as_str() {
        "c#" => "csharp".to_owned(),
        "f#" => "fsharp".to_owned(),
        _ => word,
    };
    let token: String = word
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '+' || *c == '-')
        .take(32)
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Appends `code`, escaped and highlighted as `lang` (a token from [`language_token`], or
/// `""` for none), to `out`.
pub(crate) fn highlight_into(out: &mut String, lang: &str, code: &str) {
    match highlighter_for(lang) {
        Highlighter::None => escape_into(out, code),
        Highlighter::Markup => scan_markup(out, code),
        Highlighter::Code(spec) => scan(out, spec, code),
    }
}

fn push(out: &mut String, tok: Option<Tok>, text: &str) {
    match tok {
        Some(tok) => {
            out.push_str("<span class=\"");
            out.push_str(tok.class());
            out.push_str("\">");
            escape_into(out, text);
            out.push_str("</span>");
        }
        None => escape_into(out, text),
    }
}

/// End of the char starting at byte `i` (which must be a char boundary).
fn char_end(code: &str, i: usize) -> usize {
    i + code[i..].chars().next().map_or(1, char::len_utf8)
}

fn is_op_byte(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'='
            | b'<'
            | b'>'
            | b'!'
            | b'&'
            | b'|'
            | b'^'
            | b'~'
            | b'?'
            | b':'
    )
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0c)
}

/// Position of the first `needle` at or after `from`, or the end of `hay`.
fn find_from(hay: &str, from: usize, needle: &str) -> Option<usize> {
    hay[from..].find(needle).map(|p| from + p)
}

fn line_end(code: &str, from: usize) -> usize {
    find_from(code, from, "\n").unwrap_or(code.len())
}

struct Scanner<'a> {
    code: &'a str,
    b: &'a [u8],
    spec: &'a Spec,
}

impl Scanner<'_> {
    /// If a comment starts at `i`, where it ends.
    fn comment_at(&self, i: usize) -> Option<usize> {
        let rest = &self.code[i..];
        for lc in self.spec.line_comments {
            if rest.starts_with(lc) {
                if *lc == "#" && self.spec.hash_needs_space && i > 0 {
                    let prev = self.b[i - 1];
                    if !(is_space(prev) || prev == b'\n') {
                        continue;
                    }
                }
                return Some(line_end(self.code, i));
            }
        }
        if let Some((open, close)) = self.spec.block_comment
            && rest.starts_with(open)
        {
            let end = find_from(self.code, i + open.len(), close)
                .map_or(self.code.len(), |p| p + close.len());
            return Some(end);
        }
        None
    }

    /// End of a string whose opening quote `q` is at `i`.
    fn string_end(&self, i: usize, q: u8) -> usize {
        let spec = self.spec;
        if spec.triple_quotes && self.b[i..].starts_with(&[q, q, q]) {
            let close = if q == b'"' { "\"\"\"" } else { "'''" };
            let escapes = !spec.raw_quotes.contains(&q);
            let mut j = i + 3;
            while j < self.b.len() {
                if escapes && self.b[j] == b'\\' {
                    j = self.skip_escape(j);
                } else if self.b[j..].starts_with(close.as_bytes()) {
                    return j + 3;
                } else {
                    j += 1;
                }
            }
            return self.b.len();
        }
        let multiline = spec.multiline_quotes.contains(&q);
        let escapes = !spec.raw_quotes.contains(&q);
        let mut j = i + 1;
        while j < self.b.len() {
            match self.b[j] {
                b'\\' if escapes => j = self.skip_escape(j),
                c if c == q => return j + 1,
                b'\n' if !multiline => return j,
                _ => j += 1,
            }
        }
        self.b.len()
    }

    /// Skips a backslash at `j` and the whole char it escapes.
    fn skip_escape(&self, j: usize) -> usize {
        if j + 1 < self.b.len() {
            char_end(self.code, j + 1)
        } else {
            j + 1
        }
    }

    fn is_ident_start_at(&self, i: usize) -> bool {
        let c = self.b[i];
        if c.is_ascii_alphabetic() || c == b'_' || (c == b'$' && self.spec.dollar_in_ident) {
            return true;
        }
        !c.is_ascii()
            && self.code[i..]
                .chars()
                .next()
                .is_some_and(char::is_alphabetic)
    }

    fn ident_end(&self, mut j: usize) -> usize {
        while j < self.b.len() {
            let c = self.b[j];
            if c.is_ascii_alphanumeric()
                || c == b'_'
                || (c == b'$' && self.spec.dollar_in_ident)
                || (c == b'-'
                    && self.spec.dash_in_ident
                    && self.b.get(j + 1).is_some_and(|n| n.is_ascii_alphanumeric()))
            {
                j += 1;
            } else if !c.is_ascii()
                && self.code[j..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric)
            {
                j = char_end(self.code, j);
            } else {
                break;
            }
        }
        j
    }

    fn number_end(&self, i: usize) -> usize {
        let hex = self.b[i..].starts_with(b"0x") || self.b[i..].starts_with(b"0X");
        let mut j = i + 1;
        while j < self.b.len() {
            let c = self.b[j];
            let next_digit = self.b.get(j + 1).is_some_and(u8::is_ascii_digit);
            // Digits, suffixes and hex (`0xFFu8`), a decimal point (not `1..2`), and an
            // exponent sign (`1e-5`, not `0xE-1`).
            let continues = c.is_ascii_alphanumeric()
                || c == b'_'
                || (c == b'.' && next_digit)
                || ((c == b'+' || c == b'-')
                    && !hex
                    && matches!(self.b[j - 1], b'e' | b'E')
                    && next_digit);
            if !continues {
                break;
            }
            j += 1;
        }
        j
    }

    /// The next non-blank byte at or after `j` on the same line.
    fn next_significant(&self, mut j: usize) -> Option<u8> {
        while j < self.b.len() && is_space(self.b[j]) {
            j += 1;
        }
        self.b.get(j).copied()
    }

    fn is_keyword(&self, word: &str) -> bool {
        if self.spec.ignore_case {
            self.spec
                .keywords
                .iter()
                .any(|k| k.eq_ignore_ascii_case(word))
        } else {
            self.spec.keywords.contains(&word)
        }
    }

    fn is_type(&self, word: &str) -> bool {
        if self.spec.ignore_case {
            self.spec.types.iter().any(|k| k.eq_ignore_ascii_case(word))
        } else {
            self.spec.types.contains(&word)
        }
    }

    /// Rust: `'a'`, `'\n'` are chars; `'a` and `'static` are lifetimes.
    fn rust_quote(&self, i: usize) -> (usize, Tok) {
        let b = self.b;
        if b.get(i + 1) == Some(&b'\\') {
            let mut j = self.skip_escape(i + 1);
            while j < b.len() && b[j] != b'\'' && b[j] != b'\n' {
                j += 1;
            }
            return (if b.get(j) == Some(&b'\'') { j + 1 } else { j }, Tok::Str);
        }
        if i + 1 < b.len() && b[i + 1] != b'\n' {
            let after = char_end(self.code, i + 1);
            if b.get(after) == Some(&b'\'') {
                return (after + 1, Tok::Str);
            }
            if self.is_ident_start_at(i + 1) {
                return (self.ident_end(i + 1), Tok::Ty);
            }
        }
        (i + 1, Tok::Op)
    }

    /// Rust raw strings: `r"…"`, `r#"…"#`, `br##"…"##`; `i` is just after the `r`.
    fn rust_raw_string(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while self.b.get(j) == Some(&b'#') {
            j += 1;
        }
        if self.b.get(j) != Some(&b'"') {
            return None;
        }
        let hashes = j - i;
        let mut close = String::with_capacity(hashes + 1);
        close.push('"');
        close.extend(std::iter::repeat_n('#', hashes));
        Some(find_from(self.code, j + 1, &close).map_or(self.code.len(), |p| p + close.len()))
    }
}

/// The table-driven scanner shared by every non-markup language.
fn scan(out: &mut String, spec: &Spec, code: &str) {
    let s = Scanner {
        code,
        b: code.as_bytes(),
        spec,
    };
    let b = s.b;
    let mut i = 0;
    let mut at_line_start = true;
    let mut css_depth = 0u32;
    while i < b.len() {
        let start = i;
        let c = b[i];
        if c == b'\n' || is_space(c) {
            while i < b.len() && (b[i] == b'\n' || is_space(b[i])) {
                if b[i] == b'\n' {
                    at_line_start = true;
                }
                i += 1;
            }
            push(out, None, &code[start..i]);
            continue;
        }
        let line_start = std::mem::replace(&mut at_line_start, false);
        let (end, tok) = step(&s, i, line_start, &mut css_depth);
        debug_assert!(end > i, "the scanner must always advance");
        // Belt and braces: never loop forever or split a char, whatever a rule returned.
        let end = if end > i && code.is_char_boundary(end) {
            end
        } else {
            char_end(code, i)
        };
        push(out, tok, &code[start..end]);
        i = end;
    }
}

/// Scans one token starting at the non-blank byte `i`; returns its end and class.
fn step(s: &Scanner<'_>, i: usize, line_start: bool, css_depth: &mut u32) -> (usize, Option<Tok>) {
    let (code, b, spec) = (s.code, s.b, s.spec);
    let c = b[i];
    if let Some(end) = s.comment_at(i) {
        return (end, Some(Tok::Com));
    }
    match spec.flavor {
        Flavor::Rust if c == b'\'' => {
            let (end, tok) = s.rust_quote(i);
            return (end, Some(tok));
        }
        Flavor::C if c == b'#' && line_start => {
            let mut j = i + 1;
            while j < b.len() && is_space(b[j]) {
                j += 1;
            }
            return (s.ident_end(j), Some(Tok::Kw));
        }
        Flavor::Shell if c == b'$' => {
            return match b.get(i + 1) {
                Some(b'{') => {
                    // Searched within the line only, so many unclosed `${` stay linear.
                    let eol = line_end(code, i);
                    let end = code[i..eol].find('}').map_or(eol, |p| i + p + 1);
                    (end, Some(Tok::Ty))
                }
                Some(n) if n.is_ascii_alphabetic() || *n == b'_' => {
                    (s.ident_end(i + 1), Some(Tok::Ty))
                }
                Some(n) if n.is_ascii_digit() || b"@#?$!*-".contains(n) => (i + 2, Some(Tok::Ty)),
                _ => (i + 1, Some(Tok::Op)),
            };
        }
        Flavor::Css => match c {
            b'{' => *css_depth += 1,
            b'}' => *css_depth = css_depth.saturating_sub(1),
            b'@' if b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) => {
                return (s.ident_end(i + 1), Some(Tok::Kw));
            }
            b'#' if b.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()) => {
                let tok = if *css_depth > 0 { Tok::Num } else { Tok::Ty };
                return (s.ident_end(i + 1), Some(tok));
            }
            _ => {}
        },
        Flavor::Toml if c == b'[' && line_start => {
            let eol = line_end(code, i);
            let end = code[i..eol].find(']').map_or(eol, |p| {
                let p = i + p;
                if b.get(p + 1) == Some(&b']') {
                    p + 2
                } else {
                    p + 1
                }
            });
            return (end, Some(Tok::Ty));
        }
        _ => {}
    }
    if spec.quotes.contains(&c) {
        return (s.string_end(i, c), Some(Tok::Str));
    }
    if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
        return (s.number_end(i), Some(Tok::Num));
    }
    if s.is_ident_start_at(i)
        || (spec.dash_in_ident && c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic))
    {
        return ident(s, i, *css_depth);
    }
    if is_op_byte(c) {
        let mut j = i + 1;
        while j < b.len() && is_op_byte(b[j]) && s.comment_at(j).is_none() {
            j += 1;
        }
        return (j, Some(Tok::Op));
    }
    (char_end(code, i), None)
}

fn ident(s: &Scanner<'_>, i: usize, css_depth: u32) -> (usize, Option<Tok>) {
    let (code, b, spec) = (s.code, s.b, s.spec);
    let end = s.ident_end(char_end(code, i));
    let word = &code[i..end];
    let next = b.get(end).copied();
    // String prefixes: `r"raw"`, `f'{x}'`, Rust `b"…"` and `r#"…"#`.
    if spec.flavor == Flavor::Rust {
        if matches!(word, "r" | "br" | "cr")
            && let Some(str_end) = s.rust_raw_string(end)
        {
            return (str_end, Some(Tok::Str));
        }
        if matches!(word, "b" | "c") && next == Some(b'"') {
            return (s.string_end(end, b'"'), Some(Tok::Str));
        }
        if word == "b" && next == Some(b'\'') {
            let (str_end, tok) = s.rust_quote(end);
            return (str_end, Some(tok));
        }
        // Macros: `println!(…)`, `vec![…]`; the `!` belongs to the name.
        if next == Some(b'!') && b.get(end + 1).is_some_and(|n| b"([{".contains(n)) {
            return (end + 1, Some(Tok::Fn));
        }
    }
    if let Some(q) = next
        && spec.quotes.contains(&q)
        && spec.string_prefixes.contains(&word)
    {
        return (s.string_end(end, q), Some(Tok::Str));
    }
    let tok = if s.is_type(word) {
        Some(Tok::Ty)
    } else if s.is_keyword(word) {
        Some(Tok::Kw)
    } else {
        match spec.flavor {
            Flavor::Css if css_depth > 0 && s.next_significant(end) == Some(b':') => Some(Tok::Fn),
            Flavor::Css if css_depth == 0 => Some(Tok::Ty),
            Flavor::Yaml
                if s.next_significant(end) == Some(b':') && {
                    let colon = end + code[end..].find(':').unwrap_or(0);
                    b.get(colon + 1).is_none_or(|n| is_space(*n) || *n == b'\n')
                } =>
            {
                Some(Tok::Ty)
            }
            Flavor::Toml if s.next_significant(end) == Some(b'=') => Some(Tok::Ty),
            _ if spec.caps_are_types
                && word.as_bytes()[0].is_ascii_uppercase()
                && (word.len() == 1 || word.bytes().any(|c| c.is_ascii_lowercase())) =>
            {
                Some(Tok::Ty)
            }
            _ if s.next_significant(end) == Some(b'(') => Some(Tok::Fn),
            _ => None,
        }
    };
    (end, tok)
}

/// HTML and XML: tags, attributes, quoted values and comments.
fn scan_markup(out: &mut String, code: &str) {
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let rest = &code[i..];
        if rest.starts_with("<!--") {
            i = find_from(code, i + 4, "-->").map_or(b.len(), |p| p + 3);
            push(out, Some(Tok::Com), &code[start..i]);
        } else if rest.starts_with("<![CDATA[") {
            i = find_from(code, i + 9, "]]>").map_or(b.len(), |p| p + 3);
            push(out, Some(Tok::Str), &code[start..i]);
        } else if b[i] == b'<'
            && b.get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || b"/!?".contains(n))
        {
            i = markup_tag(out, code, i);
        } else {
            // Text up to the next `<`, but always at least one char.
            i = find_from(code, char_end(code, i), "<").unwrap_or(b.len());
            push(out, None, &code[start..i]);
        }
    }
}

/// Emits one tag starting at the `<` at `i`; returns where it ends.
fn markup_tag(out: &mut String, code: &str, i: usize) -> usize {
    let b = code.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || b":_.-".contains(&c);
    let mut j = i + 1;
    if b"/!?".contains(&b[j]) {
        j += 1;
    }
    push(out, Some(Tok::Op), &code[i..j]);
    let name_start = j;
    while j < b.len() && is_name(b[j]) {
        j += 1;
    }
    push(out, Some(Tok::Kw), &code[name_start..j]);
    while j < b.len() {
        let start = j;
        let c = b[j];
        let tok = if c == b'>' {
            j += 1;
            push(out, Some(Tok::Op), &code[start..j]);
            return j;
        } else if (c == b'/' || c == b'?') && b.get(j + 1) == Some(&b'>') {
            j += 2;
            push(out, Some(Tok::Op), &code[start..j]);
            return j;
        } else if c == b'"' || c == b'\'' {
            j = find_from(code, j + 1, if c == b'"' { "\"" } else { "'" })
                .map_or(b.len(), |p| p + 1);
            Some(Tok::Str)
        } else if c == b'=' {
            j += 1;
            Some(Tok::Op)
        } else if is_name(c) {
            while j < b.len() && is_name(b[j]) {
                j += 1;
            }
            Some(Tok::Ty)
        } else if c == b'<' {
            // A new tag before this one closed (streaming or broken markup).
            return j;
        } else {
            j = char_end(code, j);
            None
        };
        push(out, tok, &code[start..j]);
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strips the highlighter's own tags and undoes [`escape_into`].
    fn unhighlight(html: &str) -> String {
        let mut text = String::new();
        let mut rest = html;
        while let Some(p) = rest.find('<') {
            text.push_str(&rest[..p]);
            let close = rest[p..].find('>').expect("tag closes") + p;
            let tag = &rest[p..=close];
            assert!(
                tag == "</span>"
                    || TOKEN_CLASSES
                        .iter()
                        .any(|c| tag == format!("<span class=\"{c}\">")),
                "unexpected tag {tag}"
            );
            rest = &rest[close + 1..];
        }
        text.push_str(rest);
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    pub(crate) const LANGS: &[&str] = &[
        "rust",
        "python",
        "javascript",
        "typescript",
        "json",
        "bash",
        "sh",
        "c",
        "cpp",
        "go",
        "java",
        "sql",
        "html",
        "xml",
        "css",
        "yaml",
        "toml",
        "kotlin",
        "",
        "text",
    ];

    /// Samples chosen to hit every rule's edge: unterminated strings and comments, escapes at
    /// the very end, multibyte text next to delimiters, lone quotes and stray markup.
    pub(crate) const SAMPLES: &[&str] = &[
        "fn main() {\n    println!(\"héllo, {}\", 'x');\n    let r = r#\"raw \"str\"\"#;\n}\n",
        "let s = \"unterminated\nnext line",
        "/* unterminated comment ✓ ",
        "'a 'static b'x' '\\u{1F600}' 'é' '\\",
        "def f(x):\n    '''doc ünïcode\n    return f\"{x!r}\" + rb'\\x00'\n",
        "\"\"\"never closed",
        "const x = `template ${a}\n multi` // comment 日本語\nlet y = $el?.map((v) => v * 2);",
        "{\"key\": [1, 2.5e-3, true, null, \"\\\"esc\\\"\"], \"ключ\": \"значение\"}",
        "#!/bin/sh\necho \"$HOME ${PATH} $1 $#\" 'single \\' # not a comment\nfor f in *; do ls \"$f\"; done # c",
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 0x1F + 1e-5); return 0; }",
        "package main\nimport \"fmt\"\nfunc main() { s := `raw\nstring`; r := 'ü'; fmt.Println(s, r) }",
        "public class A<T> { @Override public String toString() { return \"a\" + 'b'; } }",
        "SELECT name, COUNT(*) FROM users u WHERE u.note = 'it''s' -- trailing\n/* block */ AND x > 1;",
        "<!DOCTYPE html>\n<div class=\"a\" data-x='b' hidden>text & <b>bold</b></div><!-- c -->",
        "<unclosed attr=\"value\n<br/><a href=x>y</a><![CDATA[ <raw> ]]> <",
        "@media (max-width: 600px) { .a > #id, a:hover { color: #fff; margin: -1.5em !important; } }",
        "key: value # comment\nlist:\n  - 'it''s'\n  - \"esc\\\"aped\"\nurl: http://x#frag\nyes: No",
        "[table]\nkey = \"value\" # c\n[[array]]\nmulti = '''\nraw \\ text'''\nbad = \"\"\"open",
        "",
        "\n\n\t \r\n",
        "\\",
        "\"\\",
        "'",
        "`",
        "#",
        "$",
        "${unclosed",
        "<",
        "</",
        "<a",
        "r#\"",
        "0x",
        "1e+",
        ".5",
        "a-b-c -x --y",
        "ユニコード識別子 = «quoted» — “curly” ’apostrophe‘ 🚀🚀",
        "x\u{0}y\u{7f}z\u{200b}",
        "<script>alert('x')</script>&amp;&lt;",
    ];

    #[test]
    fn highlighting_is_lossless_for_every_language_and_sample() {
        for lang in LANGS {
            for sample in SAMPLES {
                let mut out = String::new();
                highlight_into(&mut out, lang, sample);
                assert_eq!(unhighlight(&out), *sample, "lang={lang:?} html={out}");
                // Every prefix too: a streaming message is cut anywhere.
                for (cut, _) in sample.char_indices() {
                    let mut out = String::new();
                    highlight_into(&mut out, lang, &sample[..cut]);
                    assert_eq!(unhighlight(&out), &sample[..cut], "lang={lang:?} cut={cut}");
                }
            }
        }
    }

    #[test]
    fn highlighting_is_lossless_for_generated_text() {
        // A tiny xorshift generator: deterministic, and no extra dev-dependency.
        let alphabet: Vec<char> = "abcXYZ019_$#@!'\"`\\/*-+=<>{}[]()&;:.,? \t\n\ré✓日🚀"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..1500 {
            let len = (next() % 60) as usize;
            let sample: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            for lang in LANGS {
                let mut out = String::new();
                highlight_into(&mut out, lang, &sample);
                assert_eq!(unhighlight(&out), sample, "lang={lang:?}");
            }
        }
    }

    #[test]
    fn classifies_common_tokens() {
        let mut out = String::new();
        highlight_into(&mut out, "rust", "fn main() { let x: u8 = 1; // hi\n}");
        assert!(out.contains(r#"<span class="tok-kw">fn</span>"#), "{out}");
        assert!(out.contains(r#"<span class="tok-fn">main</span>"#), "{out}");
        assert!(out.contains(r#"<span class="tok-ty">u8</span>"#), "{out}");
        assert!(out.contains(r#"<span class="tok-num">1</span>"#), "{out}");
        assert!(
            out.contains(r#"<span class="tok-com">// hi</span>"#),
            "{out}"
        );

        let mut out = String::new();
        highlight_into(&mut out, "sql", "select * from t where a = 'x'");
        assert!(
            out.contains(r#"<span class="tok-kw">select</span>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"<span class="tok-str">&#39;x&#39;</span>"#),
            "{out}"
        );

        let mut out = String::new();
        highlight_into(&mut out, "html", "<a href=\"x\">");
        assert!(out.contains(r#"<span class="tok-kw">a</span>"#), "{out}");
        assert!(out.contains(r#"<span class="tok-ty">href</span>"#), "{out}");

        let mut out = String::new();
        highlight_into(&mut out, "bash", "echo $HOME # home");
        assert!(
            out.contains(r#"<span class="tok-ty">$HOME</span>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"<span class="tok-com"># home</span>"#),
            "{out}"
        );
    }

    #[test]
    fn language_tokens_are_sanitised() {
        assert_eq!(language_token("Rust,ignore").as_deref(), Some("rust"));
        assert_eq!(
            language_token("python {linenos}").as_deref(),
            Some("python")
        );
        assert_eq!(language_token("c++").as_deref(), Some("c++"));
        assert_eq!(language_token("C#").as_deref(), Some("csharp"));
        assert_eq!(language_token("x\"><script>").as_deref(), Some("xscript"));
        assert_eq!(language_token("日本"), None);
        assert_eq!(language_token(""), None);
        assert_eq!(language_token(&"a".repeat(100)).map(|t| t.len()), Some(32));
    }
}
