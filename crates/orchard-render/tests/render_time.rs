//! Prints how long a 20 KB reply takes to render (the server re-renders a streaming reply
//! several times a second). No timed assertion: machines differ. For real numbers run
//! `cargo test -p orchard-render --release --test render_time -- --nocapture`.

use std::time::Instant;

use orchard_render::render_markdown;

/// About 20 KB of the kind of reply a model writes: prose, lists, a table, code, math.
fn document() -> String {
    let section = concat!(
        "## Section\n\nSome **bold** text, a [link](https://example.com/page?x=1), `inline code`, ",
        "and math $a^2 + b^2 = c^2$. A footnote[^n].\n\n",
        "- first item with _emphasis_\n- second item\n  - nested\n- [x] done task\n\n",
        "| Name | Value | Note |\n|:-----|------:|:----:|\n| alpha | 1.5 | ok |\n| beta | 22 | <b>raw</b> |\n\n",
        "```rust\nfn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n",
        "    println!(\"{v:?}\"); // done\n}\n```\n\n",
        "```python\ndef f(x):\n    return {\"k\": x, 'n': 3.14}  # comment\n```\n\n",
        "$$\\sum_{i=1}^{n} \\frac{1}{i^2} = \\frac{\\pi^2}{6}$$\n\n",
        "> A quote with ![an image](https://cdn.example/i.png) inside.\n\n",
    );
    let mut doc = String::new();
    while doc.len() < 20 * 1024 {
        doc.push_str(section);
    }
    doc.push_str("[^n]: The note.\n");
    doc
}

#[test]
fn render_time_of_a_20_kb_reply() {
    let doc = document();
    let html = render_markdown(&doc);
    assert!(html.contains("<table>") && html.contains("<math") && html.contains("tok-kw"));

    let runs = 20;
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(render_markdown(std::hint::black_box(&doc)));
    }
    let per_render = start.elapsed() / runs;
    println!(
        "render_markdown: {} bytes in, {} bytes out, {per_render:?} per render ({})",
        doc.len(),
        html.len(),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
}
