use std::time::Instant;
#[test]
fn dump() {
    let n = 20 * 1024;
    let cases: Vec<(&str, String)> = vec![
        ("brackets", "[".repeat(n)),
        ("stars", "*a ".repeat(n / 3)),
        ("dollars", "$x ".repeat(n / 3)),
        ("dollar pairs", "$x$ ".repeat(n / 4)),
        ("quotes", "> ".repeat(n / 2)),
        (
            "lists",
            (0..200)
                .map(|i| format!("{}- x\n", "  ".repeat(i)))
                .collect(),
        ),
        ("links", "[a](https://e.example/) ".repeat(n / 24)),
        ("images", "![a](https://e.example/i.png) ".repeat(n / 30)),
        ("html", "<div>".repeat(n / 5)),
        ("bash ${", format!("```bash\n{}\n```", "${".repeat(n / 2))),
        ("toml [", format!("```toml\n{}\n```", "[\n".repeat(n / 2))),
        ("c comments", format!("```c\n{}\n```", "/*".repeat(n / 2))),
        (
            "rust quotes",
            format!("```rust\n{}\n```", "'a".repeat(n / 2)),
        ),
        ("ops", format!("```js\n{}\n```", "+".repeat(n))),
        (
            "html code",
            format!("```html\n{}\n```", "<a ".repeat(n / 3)),
        ),
        (
            "latex braces",
            format!("$${}$$", "{".repeat(2000) + &"}".repeat(2000)),
        ),
        ("latex macro", "$$\\def\\a{\\a\\a}\\a$$".to_string()),
        ("latex big", format!("$${}$$", "x^2+".repeat(3000))),
        (
            "footnotes",
            (0..1000)
                .map(|i| format!("x[^{i}]\n\n[^{i}]: n\n\n"))
                .collect(),
        ),
        (
            "table",
            format!("|a|b|\n|-|-|\n{}", "|x|y|\n".repeat(n / 6)),
        ),
    ];
    for (name, src) in cases {
        let t = Instant::now();
        let out = orchard_render::render_markdown(&src);
        println!(
            "{name}: {} bytes -> {} bytes in {:?}",
            src.len(),
            out.len(),
            t.elapsed()
        );
    }
}
