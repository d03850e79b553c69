//! The ammonia pass: a second, independent line of defence behind the Markdown renderer.
//!
//! The renderer already escapes all raw HTML, so on correct operation this pass removes
//! nothing. It exists so that a bug there (or in pulldown-cmark or pulldown-latex) still
//! cannot produce a script, an event handler, a `javascript:` URL or a request to an outside
//! host. Everything is an explicit allow-list, built once: rendering runs several times a
//! second while a reply streams.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

use crate::highlight::TOKEN_CLASSES;
use crate::links::{external_image, is_attachment_path, safe_link};

/// The HTML elements our Markdown rendering emits.
const HTML_TAGS: &[&str] = &[
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "em",
    "strong",
    "del",
    "a",
    "ul",
    "ol",
    "li",
    "input",
    "blockquote",
    "pre",
    "code",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "sup",
    "div",
    "button",
    "img",
];

/// MathML presentation elements. Deliberately absent: `maction` (can toggle and run actions),
/// `semantics`' sibling `annotation-xml` (an HTML integration point) and `merror`.
const MATH_TAGS: &[&str] = &[
    "math",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "mspace",
    "mrow",
    "msup",
    "msub",
    "msubsup",
    "mfrac",
    "msqrt",
    "mroot",
    "mtable",
    "mtr",
    "mtd",
    "munder",
    "mover",
    "munderover",
    "semantics",
    "annotation",
    "mstyle",
    "mpadded",
    "mphantom",
    "menclose",
    "mmultiscripts",
    "mprescripts",
    "none",
];

/// Presentational MathML attributes. No `href`, no `style`, no event handlers, no `xlink:*`.
const MATH_ATTRS: &[&str] = &[
    "display",
    "mathvariant",
    "displaystyle",
    "scriptlevel",
    "stretchy",
    "fence",
    "separator",
    "form",
    "lspace",
    "rspace",
    "largeop",
    "movablelimits",
    "symmetric",
    "minsize",
    "maxsize",
    "accent",
    "accentunder",
    "linethickness",
    "width",
    "height",
    "depth",
    "voffset",
    "columnalign",
    "rowalign",
    "columnspacing",
    "rowspacing",
    "columnlines",
    "rowlines",
    "frame",
    "framespacing",
    "equalrows",
    "equalcolumns",
    "columnspan",
    "rowspan",
    "notation",
    "dir",
];

/// Classes pulldown-latex puts on tables (`matrix`, `align`, `cases`, …); its `styles.css`
/// gives them meaning.
const MATH_TABLE_CLASSES: &[&str] = &[
    "menv-alignlike",
    "menv-align",
    "menv-with-eqn",
    "menv-arraylike",
    "menv-cells-left",
    "menv-cells-right",
    "menv-cases",
    "menv-multline",
    "menv-hline",
    "menv-hdashline",
    "menv-nonumber",
    "menv-left-solid",
    "menv-left-dashed",
    "menv-right-solid",
    "menv-right-dashed",
    "menv-border-only",
    "cell-left",
    "cell-right",
];

static BUILDER: LazyLock<Builder<'static>> = LazyLock::new(builder);

/// Sanitises HTML produced by our renderer against the allow-list.
pub(crate) fn clean(html: &str) -> String {
    BUILDER.clean(html).to_string()
}

fn set(items: &[&'static str]) -> HashSet<&'static str> {
    items.iter().copied().collect()
}

fn builder() -> Builder<'static> {
    let mut tag_attributes: HashMap<&'static str, HashSet<&'static str>> = HashMap::from([
        ("a", set(&["href", "title"])),
        ("img", set(&["src", "alt", "title"])),
        ("ol", set(&["start"])),
        ("th", set(&["style"])),
        ("td", set(&["style"])),
        // `class` on `code` is checked by `filter_attribute` (the language is open-ended).
        ("code", set(&["class"])),
        ("pre", set(&["data-lang"])),
        ("input", set(&["type", "disabled", "checked"])),
        ("button", set(&["type", "data-src", "title"])),
        ("math", set(&["display"])),
        ("annotation", set(&["encoding"])),
    ]);
    for tag in MATH_TAGS {
        tag_attributes
            .entry(tag)
            .or_default()
            .extend(MATH_ATTRS.iter().copied());
    }

    let allowed_classes = HashMap::from([
        ("span", set(&TOKEN_CLASSES)),
        ("button", set(&["ext-img"])),
        ("sup", set(&["footnote-ref", "footnote-label"])),
        ("div", set(&["footnotes", "footnote-definition"])),
        ("li", set(&["task-list-item"])),
        ("mtable", set(MATH_TABLE_CLASSES)),
        ("mtr", set(MATH_TABLE_CLASSES)),
        ("mtd", set(MATH_TABLE_CLASSES)),
        ("mrow", set(&["mop-negated"])),
        ("mo", set(&["small"])),
        ("mi", set(&["small"])),
    ]);

    let mut b = Builder::empty();
    b.tags(HTML_TAGS.iter().chain(MATH_TAGS).copied().collect())
        .clean_content_tags(set(&["script", "style"]))
        .tag_attributes(tag_attributes)
        .allowed_classes(allowed_classes)
        .url_schemes(set(&["http", "https", "mailto"]))
        // Relative URLs: only the studio's own attachments (for `img`; `filter_attribute`
        // refuses them as link targets).
        .url_relative(UrlRelative::Custom(Box::new(relative_url)))
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .set_tag_attribute_value("button", "type", "button")
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .strip_comments(true)
        .attribute_filter(filter_attribute);
    b
}

fn relative_url(url: &str) -> Option<Cow<'_, str>> {
    is_attachment_path(url).then_some(Cow::Borrowed(url))
}

/// Value checks the allow-list cannot express; `None` drops the attribute.
fn filter_attribute<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let ok = match (element, attribute) {
        ("a", "href") => safe_link(value).is_some(),
        ("img", "src") => is_attachment_path(value),
        ("button", "data-src") => external_image(value).is_some(),
        ("code", "class") => {
            value == "math-error" || value.strip_prefix("language-").is_some_and(is_lang_token)
        }
        ("pre", "data-lang") => is_lang_token(value),
        ("th" | "td", "style") => matches!(
            value,
            "text-align: left" | "text-align: center" | "text-align: right"
        ),
        ("ol", "start") => {
            !value.is_empty() && value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit())
        }
        _ => true,
    };
    ok.then_some(Cow::Borrowed(value))
}

fn is_lang_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'+' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    // These feed hostile HTML straight to the sanitiser, as if the renderer had a bug.

    #[test]
    fn strips_scripts_handlers_and_bad_urls() {
        let out = clean(
            r#"<p onclick="x()">hi<script>alert(1)</script><img src="https://evil.example/t.png" onerror="alert(1)"><a href="javascript:alert(1)">x</a><a href="/settings">rel</a><iframe src="https://evil.example"></iframe><svg onload="alert(1)"><circle/></svg><style>*{}</style></p>"#,
        );
        // Attribute order depends on which check removed the href; normalise it.
        let out = out.replace(
            r#"<a target="_blank" rel="noopener noreferrer">"#,
            r#"<a rel="noopener noreferrer" target="_blank">"#,
        );
        assert_eq!(
            out,
            r#"<p>hi<img><a rel="noopener noreferrer" target="_blank">x</a><a rel="noopener noreferrer" target="_blank">rel</a></p>"#
        );
    }

    #[test]
    fn keeps_what_the_renderer_emits() {
        let html = r#"<pre data-lang="rust"><code class="language-rust"><span class="tok-kw">fn</span></code></pre><button type="button" class="ext-img" data-src="https://example.com/a.png" title="t">Image</button><img src="/api/v1/attachments/abc" alt="a"><a href="https://example.com/">l</a>"#;
        let out = clean(html);
        assert!(
            out.contains(r#"<code class="language-rust"><span class="tok-kw">fn</span>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"data-src="https://example.com/a.png""#),
            "{out}"
        );
        assert!(
            out.contains(r#"<img src="/api/v1/attachments/abc" alt="a">"#),
            "{out}"
        );
        assert!(
            out.contains(
                r#"<a href="https://example.com/" target="_blank" rel="noopener noreferrer">"#
            ),
            "{out}"
        );
    }

    #[test]
    fn data_src_classes_and_styles_are_held_to_their_values() {
        let out = clean(
            r#"<button class="ext-img evil" data-src="javascript:alert(1)" type="submit">b</button><span class="tok-kw x" data-src="https://e.example/">s</span><code class="language-x&quot;y">c</code><td style="background:url(https://evil.example)">d</td><math href="javascript:alert(1)"><maction actiontype="statusline"><mi>x</mi></maction></math>"#,
        );
        assert!(
            out.contains(r#"<button class="ext-img" type="button">b</button>"#),
            "{out}"
        );
        assert!(out.contains(r#"<span class="tok-kw">s</span>"#), "{out}");
        assert!(out.contains("<code>c</code>"), "{out}");
        assert!(!out.contains("evil.example"), "{out}");
        assert!(!out.contains("href"), "{out}");
        assert!(!out.contains("maction"), "{out}");
        assert!(out.contains("<math><mi>x</mi></math>"), "{out}");
    }
}
