//! Code blocks through the whole pipeline (Markdown, highlighter, ammonia): the person must
//! get back exactly the code the model wrote, whatever the language.

mod common;

use common::visible_text;
use orchard_render::render_markdown;

const LANGS: &[&str] = &[
    "rust",
    "python",
    "javascript",
    "typescript",
    "json",
    "bash",
    "shell",
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
    "haskell",
    "",
];

const SAMPLES: &[&str] = &[
    "fn main() {\n    let s = \"héllo\"; // 日本語\n    let c = '\\''; let l: &'static str = r#\"x\"#;\n}",
    "def f(x):\n    '''unterminated docstring ✓\n    return f\"{x!r}\"",
    "const t = `multi\nline ${a}`; /* open comment",
    "echo \"$HOME\" '${x}' # comment\ncat <<EOF\n<tag>\nEOF",
    "#include <vector>\nint main() { return 0x1f + 1.5e-3; } // end",
    "SELECT 'it''s', \"col\" FROM t -- c\nWHERE a <> b;",
    "<div class=\"a\" data-x='1'>text &amp; <br/></div><!-- open",
    "@import url(\"x.css\");\na:hover { color: #abc; width: calc(100% - 2px); }",
    "key: 'value' # c\nlist:\n  - \"a\\\"b\"\n  - 1.5",
    "[server]\nport = 8080\nname = \"\"\"\nmulti\"\"\"",
    "{\"a\": [1, -2.5e10, true, null], \"b\": \"\\u00e9\"}",
    "  leading spaces\n\ttab\ttab\n\ntrailing   ",
    "emoji 🚀 and combining é and RTL עברית and zero-width \u{200b}",
    "\"unterminated",
    "'",
    "\\",
    "<",
    "&",
    "&amp;",
    "&lt;script&gt;",
    "<script>alert(1)</script>",
];

/// The text inside the first `<code>…</code>` of `html`, as the person sees it.
fn code_text(html: &str) -> String {
    let start = html.find("<code").expect("a code element");
    let start = start + html[start..].find('>').expect("tag end") + 1;
    let end = html.rfind("</code>").expect("code closes");
    visible_text(&html[start..end])
}

#[test]
fn code_blocks_round_trip_exactly() {
    for lang in LANGS {
        for sample in SAMPLES {
            let md = format!("````{lang}\n{sample}\n````\n");
            let html = render_markdown(&md);
            assert_eq!(
                code_text(&html),
                format!("{sample}\n"),
                "lang={lang:?}\nhtml: {html}"
            );
        }
    }
}

#[test]
fn unclosed_fences_round_trip_while_streaming() {
    // Every prefix of a streaming reply with an unclosed fence renders the code so far.
    let sample = SAMPLES[0];
    let md = format!("Intro.\n\n```rust\n{sample}");
    let body_start = md.find("```rust\n").unwrap() + "```rust\n".len();
    for (cut, _) in md.char_indices().filter(|(i, _)| *i > body_start) {
        let html = render_markdown(&md[..cut]);
        assert!(html.contains("<code class=\"language-rust\">"), "{html}");
        // pulldown-cmark drops a final whitespace-only line of an unclosed block; nothing else.
        assert_eq!(
            code_text(&html).trim_end(),
            md[body_start..cut].trim_end(),
            "cut={cut}"
        );
    }
}

#[test]
fn code_is_highlighted_per_language() {
    let cases = [
        ("rust", "let x = 1;", r#"<span class="tok-kw">let</span>"#),
        (
            "python",
            "import os",
            r#"<span class="tok-kw">import</span>"#,
        ),
        (
            "typescript",
            "const x: string = 'a'",
            r#"<span class="tok-ty">string</span>"#,
        ),
        (
            "json",
            "{\"a\": true}",
            r#"<span class="tok-str">"a"</span>"#,
        ),
        (
            "sh",
            "if true; then echo; fi",
            r#"<span class="tok-kw">fi</span>"#,
        ),
        (
            "cpp",
            "#include <x>",
            r#"<span class="tok-kw">#include</span>"#,
        ),
        (
            "go",
            "func main() {}",
            r#"<span class="tok-fn">main</span>"#,
        ),
        (
            "java",
            "public class A {}",
            r#"<span class="tok-ty">A</span>"#,
        ),
        ("sql", "SELECT 1", r#"<span class="tok-kw">SELECT</span>"#),
        ("html", "<p>x</p>", r#"<span class="tok-kw">p</span>"#),
        (
            "xml",
            "<!-- c -->",
            r#"<span class="tok-com">&lt;!-- c --&gt;</span>"#,
        ),
        (
            "css",
            "a { color: red; }",
            r#"<span class="tok-fn">color</span>"#,
        ),
        ("yaml", "name: x", r#"<span class="tok-ty">name</span>"#),
        (
            "toml",
            "[package]",
            r#"<span class="tok-ty">[package]</span>"#,
        ),
        (
            "kotlin",
            "fun f() = 1 // c",
            r#"<span class="tok-com">// c</span>"#,
        ),
    ];
    for (lang, code, expected) in cases {
        let html = render_markdown(&format!("```{lang}\n{code}\n```"));
        assert!(html.contains(expected), "lang={lang}: {html}");
    }
}
