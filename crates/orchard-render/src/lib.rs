//! Turns model output into HTML the web UI can insert as is.
//!
//! A model's reply is Markdown written by something we do not trust: it may have been told
//! (by a web page or a document it read) to exfiltrate the conversation through an image URL,
//! or to plant a script. [`render_markdown`] therefore works in two independent layers:
//!
//! 1. pulldown-cmark parses the Markdown (tables, strikethrough, task lists, footnotes and
//!    `$math$` on). Raw HTML is never passed through: it is shown as escaped text. Links
//!    keep their `href` only for absolute `http`, `https` and `mailto` URLs; images on outside
//!    hosts become a click-to-load button; code is highlighted here on the server; math
//!    becomes MathML via `pulldown-latex`.
//! 2. ammonia then re-parses the result and enforces an explicit allow-list of elements,
//!    attributes, class values and URL schemes, so a bug in step 1 still cannot produce a
//!    script, an event handler, a `javascript:` URL or a request to an outside host. It also
//!    puts `rel="noopener noreferrer"` and `target="_blank"` on every link.
//!
//! [`render_plain`] is for the person's own messages: escaped text, no Markdown.
//!
//! Rendering is cheap enough to redo several times a second on a growing streaming reply:
//! a 20 KB reply with code, tables and math takes about 5 ms in a release build on a
//! 2-core machine (about 0.7 ms for Markdown, highlighting and math, the rest in ammonia's
//! re-parse; see the `render_time` test). Nothing is quadratic in the input; elements nested
//! deeper than 48 levels are flattened, since html5ever is slow on very deep trees. An
//! unclosed code fence (a reply still streaming) renders as a code block up to the end.
//!
//! # What the UI must style or handle
//!
//! | Markup | Meaning |
//! | --- | --- |
//! | `<pre data-lang="rust"><code class="language-rust">` | A code block; `data-lang` and the class are absent when the fence names no language. The language token is limited to `[a-z0-9+-]`. |
//! | `span.tok-kw` | keyword |
//! | `span.tok-str` | string or char literal |
//! | `span.tok-com` | comment |
//! | `span.tok-num` | number (and CSS colours) |
//! | `span.tok-ty` | type name, lifetime, shell variable, YAML/TOML key, HTML attribute name |
//! | `span.tok-fn` | function or macro name at a call or definition, CSS property |
//! | `span.tok-op` | operator, HTML tag punctuation |
//! | `button.ext-img[data-src]` | An image on an outside host, not loaded. Its text says which host; `title` is the full URL. The UI's script replaces it with `<img src=data-src>` when clicked, never before. |
//! | `code.math-error` | LaTeX that did not parse, shown as its source. |
//! | `math` (MathML) | Rendered math; `display="block"` for `$$…$$`. Tables inside use pulldown-latex's `menv-*` and `cell-*` classes, styled by its `styles.css`. |
//! | `sup.footnote-ref` | A footnote reference: its number, not a link (no ids, so two messages on one page cannot collide or clobber the DOM). |
//! | `div.footnotes` > `div.footnote-definition` > `sup.footnote-label` | The footnotes, gathered at the end of the message in number order. |
//! | `li.task-list-item` > `input[type=checkbox][disabled]` | A task list item. |
//! | `th`/`td` `style="text-align: …"` | Table column alignment (the only inline style allowed). |
//!
//! The studio's own attachments (`/api/v1/attachments/…`) are the only images shown as
//! `<img>` directly. Other images (`data:`, relative paths) show their alt text only, and an
//! outside image inside a link shows its alt text (a button there would follow the link).
//!
//! Math is pulldown-latex 0.8's MathML Core. Its inline `style` attributes (`\color`,
//! `\colorbox`, negative kerns) are dropped by the allow-list, and LaTeX it does not know
//! (`\boxed`, `\phantom`, `\tag`, …) falls back to `code.math-error`.

mod escape;
mod highlight;
mod links;
mod math;
mod sanitize;

use std::collections::HashMap;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::escape::{escape, escape_into};
use crate::links::{display_host, external_image, is_attachment_path, safe_link};

/// Renders model output (untrusted Markdown) to a safe HTML fragment.
///
/// Raw HTML in `src` is shown as text, never interpreted; see the [crate] documentation for
/// what the output may contain.
pub fn render_markdown(src: &str) -> String {
    sanitize::clean(&markdown_to_html(src))
}

/// Renders the person's own message: HTML-escaped text, no Markdown.
///
/// Blank lines separate `<p>` paragraphs and single line breaks become `<br>`; `\r\n` counts
/// as one break. Runs of spaces are kept in the markup (style with `white-space: pre-wrap`
/// to show them).
pub fn render_plain(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let mut in_paragraph = false;
    for line in src.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if in_paragraph {
                out.push_str("</p>");
                in_paragraph = false;
            }
            continue;
        }
        if in_paragraph {
            out.push_str("<br>");
        } else {
            out.push_str("<p>");
            in_paragraph = true;
        }
        escape_into(&mut out, line);
    }
    if in_paragraph {
        out.push_str("</p>");
    }
    out
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_MATH
}

/// Step 1: Markdown to HTML, with every unsafe construct rewritten or escaped.
fn markdown_to_html(src: &str) -> String {
    let mut parser = Parser::new_ext(src, options());
    let mut rewriter = Rewriter::default();
    while let Some(event) = parser.next() {
        rewriter.event(event, &mut parser);
    }
    let events = rewriter.finish();
    let mut html = String::with_capacity(src.len() * 3 / 2 + 64);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// Rewrites pulldown-cmark's events before its HTML writer sees them.
#[derive(Default)]
struct Rewriter<'a> {
    main: Vec<Event<'a>>,
    /// Footnote definitions being read (number, body); they are moved to the end.
    open_notes: Vec<(usize, Vec<Event<'a>>)>,
    notes: Vec<(usize, Vec<Event<'a>>)>,
    /// Footnote label to number, in order of first appearance (as pulldown-cmark numbers them).
    numbers: HashMap<String, usize>,
    /// For each open link: whether an `<a>` was written for it.
    links: Vec<bool>,
    /// For each open list item: where its start event is (note depth, index), so a task-list
    /// marker can give it a class; `None` if the item was flattened.
    items: Vec<Option<(usize, usize)>>,
    /// For each open element passed on to the HTML writer: whether it was written (see
    /// [`MAX_NESTING`]).
    open: Vec<bool>,
    /// How many of `open` were written.
    written: usize,
}

/// Elements nested deeper than this are flattened (their content kept, their tags dropped).
/// `> > > > …` or `****…` can nest thousands deep in a few KB, and html5ever's handling of
/// deep trees is quadratic: 20 KB of `> ` took 270 ms to sanitise before this limit.
const MAX_NESTING: usize = 48;

impl<'a> Rewriter<'a> {
    fn out(&mut self) -> &mut Vec<Event<'a>> {
        match self.open_notes.last_mut() {
            Some((_, body)) => body,
            None => &mut self.main,
        }
    }

    fn html(&mut self, html: String) {
        self.out().push(Event::Html(CowStr::from(html)));
    }

    /// Passes a start tag on unless nesting is too deep; returns its index in the output.
    fn start(&mut self, tag: Tag<'a>) -> Option<usize> {
        let write = self.written < MAX_NESTING;
        self.open.push(write);
        if !write {
            // Keep flattened blocks apart.
            match tag {
                Tag::Item | Tag::Paragraph | Tag::Heading { .. } | Tag::TableRow => {
                    self.out().push(Event::HardBreak);
                }
                Tag::TableCell => self.out().push(Event::Text(CowStr::Borrowed(" "))),
                _ => {}
            }
            return None;
        }
        self.written += 1;
        let out = self.out();
        out.push(Event::Start(tag));
        Some(out.len() - 1)
    }

    /// Passes the end tag matching the last [`Rewriter::start`] on if its start was written.
    fn end(&mut self, tag: TagEnd) {
        if self.open.pop().unwrap_or(true) {
            self.written = self.written.saturating_sub(1);
            self.out().push(Event::End(tag));
        }
    }

    fn footnote_number(&mut self, label: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(label.to_owned()).or_insert(next)
    }

    fn event(&mut self, event: Event<'a>, parser: &mut Parser<'a>) {
        match event {
            // Raw HTML from the model is shown, not interpreted.
            Event::Html(raw) | Event::InlineHtml(raw) => self.out().push(Event::Text(raw)),
            Event::Start(Tag::HtmlBlock) => {
                self.start(Tag::Paragraph);
            }
            Event::End(TagEnd::HtmlBlock) => self.end(TagEnd::Paragraph),

            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                ..
            }) => {
                let dest = if link_type == LinkType::Email {
                    CowStr::from(format!("mailto:{dest_url}"))
                } else {
                    dest_url
                };
                // A link we will not follow keeps its text and loses the `<a>`.
                let url = safe_link(&dest);
                self.links.push(url.is_some());
                if let Some(url) = url {
                    let mut tag = String::from("<a href=\"");
                    escape_into(&mut tag, url.as_str());
                    if !title.is_empty() {
                        tag.push_str("\" title=\"");
                        escape_into(&mut tag, &title);
                    }
                    tag.push_str("\">");
                    self.html(tag);
                }
            }
            Event::End(TagEnd::Link) => {
                if self.links.pop() == Some(true) {
                    self.html("</a>".to_owned());
                }
            }

            Event::Start(Tag::Image {
                dest_url, title, ..
            }) => {
                let alt = image_alt(parser);
                let html = self.image(&dest_url, &title, &alt);
                self.html(html);
            }

            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => highlight::language_token(&info),
                    CodeBlockKind::Indented => None,
                };
                let mut code = String::new();
                for event in parser.by_ref() {
                    match event {
                        Event::Text(text) => code.push_str(&text),
                        Event::End(TagEnd::CodeBlock) => break,
                        _ => {}
                    }
                }
                self.html(code_block(lang.as_deref(), &code));
            }

            Event::InlineMath(latex) => {
                let mut html = String::new();
                math::render_into(&mut html, &latex, false);
                self.html(html);
            }
            Event::DisplayMath(latex) => {
                let mut html = String::new();
                math::render_into(&mut html, &latex, true);
                self.html(html);
            }

            Event::FootnoteReference(label) => {
                let n = self.footnote_number(&label);
                self.html(format!("<sup class=\"footnote-ref\">{n}</sup>"));
            }
            Event::Start(Tag::FootnoteDefinition(label)) => {
                let n = self.footnote_number(&label);
                self.open_notes.push((n, Vec::new()));
            }
            Event::End(TagEnd::FootnoteDefinition) => {
                if let Some(note) = self.open_notes.pop() {
                    self.notes.push(note);
                }
            }

            Event::Start(Tag::Item) => {
                let index = self.start(Tag::Item);
                let depth = self.open_notes.len();
                self.items.push(index.map(|i| (depth, i)));
            }
            Event::End(TagEnd::Item) => {
                self.items.pop();
                self.end(TagEnd::Item);
            }
            Event::TaskListMarker(checked) => {
                let depth = self.open_notes.len();
                if let Some(&Some((item_depth, index))) = self.items.last()
                    && item_depth == depth
                {
                    self.out()[index] = Event::Html(CowStr::from("<li class=\"task-list-item\">"));
                }
                self.out().push(Event::TaskListMarker(checked));
            }

            // Heading ids and classes only come with ENABLE_HEADING_ATTRIBUTES (off); drop
            // them anyway so no model-chosen id can reach the page.
            Event::Start(Tag::Heading { level, .. }) => {
                self.start(Tag::Heading {
                    level,
                    id: None,
                    classes: Vec::new(),
                    attrs: Vec::new(),
                });
            }

            Event::Start(tag) => {
                self.start(tag);
            }
            Event::End(tag) => self.end(tag),
            other => self.out().push(other),
        }
    }

    fn image(&self, dest: &str, title: &str, alt: &str) -> String {
        let mut html = String::new();
        if is_attachment_path(dest) {
            html.push_str("<img src=\"");
            escape_into(&mut html, dest);
            html.push_str("\" alt=\"");
            escape_into(&mut html, alt);
            if !title.is_empty() {
                html.push_str("\" title=\"");
                escape_into(&mut html, title);
            }
            html.push_str("\">");
        } else if let Some(url) = external_image(dest) {
            let host = display_host(&url);
            if self.links.iter().any(|&open| open) {
                // A button inside a link would follow the link when clicked: text only.
                let label = if alt.is_empty() {
                    format!("[image: {host}]")
                } else {
                    alt.to_owned()
                };
                escape_into(&mut html, &label);
            } else {
                html.push_str("<button type=\"button\" class=\"ext-img\" data-src=\"");
                escape_into(&mut html, url.as_str());
                html.push_str("\" title=\"");
                escape_into(&mut html, url.as_str());
                html.push_str("\">");
                let label = if alt.is_empty() {
                    format!("Image from {host} — click to load")
                } else {
                    format!("{alt} — image from {host}, click to load")
                };
                escape_into(&mut html, &label);
                html.push_str("</button>");
            }
        } else {
            // data:, javascript:, other relative paths: the alt text is all that is left.
            escape_into(&mut html, alt);
        }
        html
    }

    fn finish(mut self) -> Vec<Event<'a>> {
        while let Some(note) = self.open_notes.pop() {
            self.notes.push(note);
        }
        if self.notes.is_empty() {
            return self.main;
        }
        self.notes.sort_by_key(|(n, _)| *n);
        let mut events = self.main;
        events.push(Event::Html(CowStr::from("<div class=\"footnotes\">\n")));
        for (n, body) in self.notes {
            events.push(Event::Html(CowStr::from(format!(
                "<div class=\"footnote-definition\"><sup class=\"footnote-label\">{n}</sup>"
            ))));
            events.extend(body);
            events.push(Event::Html(CowStr::from("</div>\n")));
        }
        events.push(Event::Html(CowStr::from("</div>\n")));
        events
    }
}

/// Reads an image's description up to its end tag, as plain text for `alt`.
fn image_alt(parser: &mut Parser<'_>) -> String {
    let mut alt = String::new();
    let mut depth = 1usize;
    for event in parser.by_ref() {
        match event {
            Event::Start(Tag::Image { .. }) => depth += 1,
            Event::End(TagEnd::Image) => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Event::Text(text)
            | Event::Code(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text)
            | Event::Html(text)
            | Event::InlineHtml(text) => alt.push_str(&text),
            Event::SoftBreak | Event::HardBreak => alt.push(' '),
            _ => {}
        }
    }
    alt
}

fn code_block(lang: Option<&str>, code: &str) -> String {
    let mut html = String::with_capacity(code.len() * 2 + 64);
    match lang {
        Some(lang) => {
            html.push_str("<pre data-lang=\"");
            html.push_str(&escape(lang));
            html.push_str("\"><code class=\"language-");
            html.push_str(&escape(lang));
            html.push_str("\">");
        }
        None => html.push_str("<pre><code>"),
    }
    highlight::highlight_into(&mut html, lang.unwrap_or(""), code);
    html.push_str("</code></pre>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LaTeX covering what pulldown-latex can emit: scripts, fractions, roots, accents,
    /// big operators, fences, spacing, fonts, environments with rules and alignment.
    const MATH_CORPUS: &[&str] = &[
        r"x^2 + y_1 = z_{ij}^{k}",
        r"\frac{a}{\sqrt{b}} + \sqrt[3]{x} + \binom{n}{k} + \tfrac12 + \dfrac{1}{2}",
        r"\sum_{i=0}^n i = \int_0^1 f(x)\,dx \prod_k \lim_{x \to 0} \max_{a} \bigcup",
        r"\left( \frac{a}{b} \right] \bigl| x \bigr| \langle v \rangle \lVert w \rVert",
        r"\hat{x} \vec{v} \dot{x} \ddot{y} \bar{z} \widehat{ab} \overline{x} \underline{y}",
        r"\overbrace{a+b}^{n} \underbrace{x}_{y} \stackrel{!}{=} \overset{a}{b} \underset{c}{d}",
        r"\mathbb{R} \mathcal{C} \mathfrak{g} \mathrm{d}x \mathbf{v} \boldsymbol{\alpha} \mathsf{s} \mathtt{t}",
        r"\alpha \beta \Gamma \infty \partial \nabla \pm \times \cdot \leq \neq \not\in \cancel{z}",
        r"a~b\ c \quad d \qquad e \, \; \! \hspace{1em} \kern1em \text{ words & <stuff> }",
        r"\operatorname{f}(x) \sin x \log_2 n \bmod p \pmod{q}",
        r"\color{red}{x} \textcolor{blue}{y} \colorbox{yellow}{z} \displaystyle \sum \textstyle \scriptstyle a",
        r"{}_a^b X \xrightarrow{f} \xleftarrow[g]{h} \mathop{op}_x",
        r"\begin{pmatrix}1 & 2\\ 3 & 4\end{pmatrix} \begin{bmatrix}a\end{bmatrix} \begin{vmatrix}v\end{vmatrix} \begin{smallmatrix}s\end{smallmatrix}",
        r"\begin{cases}0 & x < 0\\ 1 & \text{else}\end{cases} \begin{rcases}a\end{rcases}",
        r"\begin{array}{|c|l:r|} \hline a & b & c \\ \hdashline d & e & f \\ \hline \end{array}",
        r"\begin{aligned} a &= b \\ c &= d \end{aligned}",
        r"\begin{align} a &= b \\ c &= d \end{align} \begin{align*} e &= f \end{align*}",
        r"\begin{gather} x \\ y \end{gather} \begin{multline} a \\ b \end{multline}",
        r"\begin{matrix} a & b \end{matrix} \begin{subarray}{l} i \\ j \end{subarray}",
        r"\def\foo#1{#1^2} \foo{x} \newcommand{\bar}[1]{#1} ",
    ];

    /// Element names, their attributes without `style` (which we drop on purpose), and the
    /// text, in document order.
    fn shape(html: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(p) = rest.find('<') {
            out.push(format!("text:{}", &rest[..p]));
            let end = rest[p..].find('>').expect("tag closes") + p;
            let tag = rest[p + 1..end].trim_end_matches('/').trim();
            if !tag.starts_with('/') {
                let name_end = tag.find(' ').unwrap_or(tag.len());
                // `name="value"` pairs; pulldown-latex sometimes omits the space between them.
                let mut attrs = Vec::new();
                let mut a = tag[name_end..].trim_start();
                while let Some(eq) = a.find("=\"") {
                    let close = a[eq + 2..].find('"').expect("quoted") + eq + 2;
                    if !a[..eq].starts_with("style") {
                        attrs.push(&a[..=close]);
                    }
                    a = a[close + 1..].trim_start();
                }
                attrs.sort_unstable();
                out.push(format!("<{} {}>", &tag[..name_end], attrs.join(" ")));
            }
            rest = &rest[end + 1..];
        }
        out.push(format!("text:{rest}"));
        out.retain(|s| s != "text:");
        out
    }

    #[test]
    fn sanitiser_keeps_all_mathml_we_emit() {
        for latex in MATH_CORPUS {
            for display in [false, true] {
                let mut raw = String::new();
                math::render_into(&mut raw, latex, display);
                assert!(raw.starts_with("<math"), "{latex} did not render: {raw}");
                let clean = sanitize::clean(&raw);
                assert_eq!(
                    shape(&clean),
                    shape(&raw),
                    "{latex}\nraw:   {raw}\nclean: {clean}"
                );
            }
        }
    }

    #[test]
    fn plain_text_keeps_breaks_and_escapes() {
        assert_eq!(
            render_plain("Hi <b>there</b>\r\nsecond line\n\n\n  \nnew & para\n"),
            "<p>Hi &lt;b&gt;there&lt;/b&gt;<br>second line</p><p>new &amp; para</p>"
        );
        assert_eq!(render_plain(""), "");
        assert_eq!(
            render_plain("**not bold** [x](javascript:y)"),
            "<p>**not bold** [x](javascript:y)</p>"
        );
    }
}
