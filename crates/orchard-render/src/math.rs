//! `$…$` and `$$…$$` to MathML with pulldown-latex.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pulldown_latex::config::DisplayMode;
use pulldown_latex::event::{Content, Dimension, DimensionUnit, Event};
use pulldown_latex::{Parser, ParserError, RenderConfig, Storage, push_mathml};

use crate::escape::{escape, escape_into};

/// Longer LaTeX is shown as source: nobody writes a 20 KB formula on purpose, and a hostile
/// one could make the parser's macro expansion expensive on every streaming re-render.
const MAX_SOURCE: usize = 16 * 1024;

/// Appends `latex` rendered as a `<math>` element to `out`, or, if it does not parse,
/// its escaped source in `<code class="math-error">`.
pub(crate) fn render_into(out: &mut String, latex: &str, display: bool) {
    match to_mathml(latex, display) {
        Some(mathml) => out.push_str(&mathml),
        None => {
            out.push_str("<code class=\"math-error\">");
            escape_into(out, latex);
            out.push_str("</code>");
        }
    }
}

fn to_mathml(latex: &str, display: bool) -> Option<String> {
    if latex.len() > MAX_SOURCE {
        return None;
    }
    // pulldown-latex writes the annotation verbatim, so it must be escaped here.
    let annotation = escape(latex);
    let config = RenderConfig {
        display_mode: if display {
            DisplayMode::Block
        } else {
            DisplayMode::Inline
        },
        annotation: Some(&annotation),
        ..RenderConfig::default()
    };
    // The model controls this input; a bug in the parser must cost one formula, not the
    // request (the server re-renders while streaming).
    catch_unwind(AssertUnwindSafe(|| {
        let storage = Storage::new();
        let events: Vec<_> = Parser::new(latex, &storage).collect();
        // pulldown-latex renders errors inline in red; we show the source instead. It also
        // writes function names (`\operatorname{…}`) unescaped: refuse markup there.
        let unsafe_name = |s: &str| s.contains(['<', '>', '&']);
        if events.iter().any(|e| match e {
            Err(_) => true,
            Ok(Event::Content(Content::Function(s) | Content::Number(s))) => unsafe_name(s),
            Ok(_) => false,
        }) {
            return None;
        }
        let mut mathml = String::new();
        push_mathml(&mut mathml, events.into_iter().map(fix_nbsp), config).ok()?;
        Some(escape_stray(&mathml))
    }))
    .ok()
    .flatten()
}

/// pulldown-latex 0.8 turns `~` and `\ ` into the text `&nbsp;`, which its writer then
/// escapes, so the reader would see a literal "&nbsp;". Render them as the interword space
/// (a third of an em) they stand for.
fn fix_nbsp(event: Result<Event<'_>, ParserError>) -> Result<Event<'_>, ParserError> {
    match event {
        Ok(Event::Content(Content::Text("&nbsp;"))) => Ok(Event::Space {
            width: Some(Dimension::new(0.333, DimensionUnit::Em)),
            height: None,
            depth: None,
        }),
        other => other,
    }
}

/// pulldown-latex 0.8 writes operator characters as they are, so `x < y` comes out as
/// `<mo><</mo>`. Escape every `<`, `>` and `&` that is not part of a well-formed tag (as the
/// writer produces them: `<name attr="v">`, `</name>`, `<name />`) or a character reference.
fn escape_stray(mathml: &str) -> String {
    let b = mathml.as_bytes();
    let mut out = String::with_capacity(mathml.len() + 16);
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        let rep = match b[i] {
            b'<' => match tag_end(b, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => "&lt;",
            },
            b'>' => "&gt;",
            b'&' if !is_char_ref(&b[i..]) => "&amp;",
            _ => {
                i += 1;
                continue;
            }
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        out.push_str(&mathml[copied..i]);
        out.push_str(rep);
        i += 1;
        copied = i;
    }
    out.push_str(&mathml[copied..]);
    out
}

/// If a well-formed tag starts at `b[i]` (a `<`), the index just past it.
fn tag_end(b: &[u8], i: usize) -> Option<usize> {
    let name_len = |j: usize| {
        b[j.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_lowercase() || **c == b'-')
            .count()
    };
    let mut j = i + 1;
    if b.get(j) == Some(&b'/') {
        j += 1;
    }
    let n = name_len(j);
    if n == 0 {
        return None;
    }
    j += n;
    loop {
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        match b.get(j)? {
            b'>' => return Some(j + 1),
            b'/' if b.get(j + 1) == Some(&b'>') => return Some(j + 2),
            _ => {}
        }
        let n = name_len(j);
        if n == 0 || b.get(j + n..j + n + 2) != Some(b"=\"") {
            return None;
        }
        j += n + 2;
        let len = b[j..].iter().position(|&c| c == b'"')?;
        if b[j..j + len].iter().any(|&c| c == b'<' || c == b'>') {
            return None;
        }
        j += len + 1;
    }
}

/// `&name;`, `&#123;` or `&#x1F;` at the start of `b`.
fn is_char_ref(b: &[u8]) -> bool {
    let body = &b[1..];
    let (digits, is_digit): (&[u8], fn(&u8) -> bool) = match body {
        [b'#', b'x' | b'X', rest @ ..] => (rest, u8::is_ascii_hexdigit),
        [b'#', rest @ ..] => (rest, u8::is_ascii_digit),
        _ => (body, u8::is_ascii_alphanumeric),
    };
    let n = digits.iter().take_while(|c| is_digit(c)).count();
    (1..=32).contains(&n) && digits.get(n) == Some(&b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(latex: &str, display: bool) -> String {
        let mut out = String::new();
        render_into(&mut out, latex, display);
        out
    }

    #[test]
    fn renders_inline_and_block_mathml() {
        let inline = render("x^2", false);
        assert!(inline.starts_with("<math"), "{inline}");
        assert!(inline.contains("<msup>"), "{inline}");
        assert!(!inline.contains("display=\"block\""), "{inline}");
        let block = render(r"\frac{a}{b}", true);
        assert!(block.contains("display=\"block\""), "{block}");
        assert!(block.contains("<mfrac>"), "{block}");
    }

    #[test]
    fn annotation_is_escaped() {
        let out = render("a < b", false);
        assert!(out.contains("a &lt; b</annotation>"), "{out}");
        assert!(!out.contains("a < b"), "{out}");
    }

    #[test]
    fn tilde_and_control_space_are_spaces_not_entities() {
        let out = render(r"a~b\ c", false);
        assert!(!out.contains("&amp;nbsp;"), "{out}");
        assert_eq!(
            out.matches(r#"<mspace width="0.333em""#).count(),
            2,
            "{out}"
        );
    }

    #[test]
    fn operators_are_escaped() {
        let out = render(r"x < y > z \& w", false);
        assert!(out.contains("<mo>&lt;</mo>"), "{out}");
        assert!(out.contains("<mo>&gt;</mo>"), "{out}");
        assert!(out.contains("<mi>&amp;</mi>"), "{out}");
        assert!(
            out.contains("x &lt; y &gt; z \\&amp; w</annotation>"),
            "{out}"
        );
    }

    #[test]
    fn markup_in_function_names_is_refused() {
        let out = render(r"\operatorname{<img src=x onerror=alert(1)>}", false);
        assert!(
            out.starts_with(r#"<code class="math-error">\operatorname{&lt;img"#),
            "{out}"
        );
    }

    #[test]
    fn stray_markup_characters_are_escaped() {
        assert_eq!(
            escape_stray(r#"<mo a="1"b="2"><</mo><mi>&amp;&#60;&#x3c;&</mi><none /><x y="<">"#),
            r#"<mo a="1"b="2">&lt;</mo><mi>&amp;&#60;&#x3c;&amp;</mi><none />&lt;x y="&lt;"&gt;"#
        );
    }

    #[test]
    fn bad_latex_shows_escaped_source() {
        let out = render(r"\frac{1}{<b>", false);
        assert_eq!(out, r#"<code class="math-error">\frac{1}{&lt;b&gt;</code>"#);
        let out = render(r"\undefinedmacro{x}", false);
        assert!(out.starts_with(r#"<code class="math-error">"#), "{out}");
    }
}
