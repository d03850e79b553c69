//! Snapshots of representative model output, so any change to the HTML is reviewed.

use orchard_render::{render_markdown, render_plain};

#[test]
fn headings_and_inline() {
    insta::assert_snapshot!(render_markdown(
        "# Title\n\n## Sub *title*\n\nSome **bold**, _em_, ~~gone~~ and `code <b>`.  \nHard break.\n\n> quoted\n> text\n\n---\n"
    ));
}

#[test]
fn lists_and_task_lists() {
    insta::assert_snapshot!(render_markdown(
        "- one\n- two\n  1. nested\n  2. list\n\n3. starts\n4. at three\n\n- [ ] todo\n- [x] done\n"
    ));
}

#[test]
fn tables() {
    insta::assert_snapshot!(render_markdown(
        "| Left | Centre | Right |\n|:-----|:------:|------:|\n| a | **b** | `c` |\n| <i>raw</i> | [l](https://example.com) | $x$ |\n"
    ));
}

#[test]
fn code_blocks() {
    insta::assert_snapshot!(render_markdown(concat!(
        "```rust\nfn main() {\n    let s = \"hi\"; // greet\n    println!(\"{s}\");\n}\n```\n\n",
        "```python\ndef f(x: int) -> str:\n    return f\"{x}\"  # note\n```\n\n",
        "```\nplain <text>\n```\n\n",
        "    indented code\n\n",
        "```Weird\"><lang\nx = 1\n```\n"
    )));
}

#[test]
fn unclosed_fence_while_streaming() {
    insta::assert_snapshot!(render_markdown(
        "Here is the code:\n\n```js\nconst a = 'unterminated\nfunction f() { /* open comment"
    ));
}

#[test]
fn math() {
    insta::assert_snapshot!(render_markdown(concat!(
        "Inline $x^2 + y_1$ and display:\n\n$$\\frac{a}{\\sqrt{b}}$$\n\n",
        "$$\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix} \\quad f(x) = \\begin{cases}0 & x < 0\\\\ \\color{red}{1} & \\text{else}\\end{cases}$$\n\n",
        "Broken: $\\frac{1}$ and $\\notacommand{x}$; prices $5 and $10.\n"
    )));
}

#[test]
fn links() {
    insta::assert_snapshot!(render_markdown(
        "[site](<https://example.com/a b?q=1&r=2> \"Title\") <https://auto.example> <me@example.com> [bad](javascript:alert(1)) [rel](/settings) www.example.com"
    ));
}

#[test]
fn images() {
    insta::assert_snapshot!(render_markdown(concat!(
        "![a cat](https://cdn.example/cat.png \"Cat\")\n\n",
        "![](http://tracker.example:8080/p.gif?u=1)\n\n",
        "![chart](/api/v1/attachments/0b7c2f/chart.png)\n\n",
        "![inline data](data:image/png;base64,AAAA) ![rel](images/x.png)\n\n",
        "[![badge](https://badge.example/b.svg)](https://example.com)\n"
    )));
}

#[test]
fn footnotes() {
    insta::assert_snapshot!(render_markdown(
        "Claim one[^a] and two[^b], again[^a].\n\n[^b]: Second *note*.\n[^a]: First note with <script>x</script>.\n"
    ));
}

#[test]
fn raw_html_is_shown() {
    insta::assert_snapshot!(render_markdown(
        "<div onclick=\"x()\">\n<b>block</b>\n</div>\n\nInline <span style=\"color:red\">span</span> and <!-- comment -->.\n"
    ));
}

#[test]
fn plain_messages() {
    insta::assert_snapshot!(render_plain(
        "Hello <model>,\nplease **don't** render this.\n\nNew paragraph & more."
    ));
}
