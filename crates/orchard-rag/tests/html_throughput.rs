//! How fast HTML pages load: the Rust book that ships with the toolchain, read page by
//! page on one core. Ignored by default (it needs the toolchain's docs and a release
//! build to mean anything); run it by hand:
//!
//! ```sh
//! cargo test --release -p orchard-rag --test html_throughput -- --ignored --nocapture
//! ```
//!
//! `ORCHARD_HTML_DIR` points it at another folder of pages; `ORCHARD_HTML_MIN_MBPS` sets
//! the speed it must reach (20 MB/s unless set).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use orchard_rag::loaders::{DocKind, Limits, load};

fn pages_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ORCHARD_HTML_DIR") {
        return Some(PathBuf::from(dir));
    }
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(output.stdout).ok()?;
    Some(Path::new(sysroot.trim()).join("share/doc/rust/html/book"))
}

fn html_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "html") {
            files.push(path);
        }
    }
}

#[test]
#[ignore = "needs the toolchain's docs; run by hand in release mode"]
fn rust_book_loads_fast() {
    let Some(dir) = pages_dir() else {
        panic!("no pages directory; set ORCHARD_HTML_DIR");
    };
    let mut files = Vec::new();
    html_files(&dir, &mut files);
    assert!(!files.is_empty(), "no .html files under {}", dir.display());
    let pages: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter_map(|path| Some((path.display().to_string(), std::fs::read(path).ok()?)))
        .collect();
    let bytes: usize = pages.iter().map(|(_, page)| page.len()).sum();

    let limits = Limits::default();
    let mut best = f64::INFINITY;
    let mut chars = 0usize;
    // The best of three runs, so a busy machine does not decide the number.
    for _ in 0..3 {
        chars = 0;
        let start = Instant::now();
        for (name, page) in &pages {
            // Some pages (redirects, the print page's empty frames) have no text.
            if let Ok(loaded) = load(name, page, &limits) {
                assert_eq!(loaded.kind, DocKind::Html);
                chars += loaded.text.len();
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mbps = bytes as f64 / best / 1e6;
    println!(
        "{} pages, {:.1} MB of HTML -> {:.1} MB of text in {:.3} s: {:.1} MB/s",
        pages.len(),
        bytes as f64 / 1e6,
        chars as f64 / 1e6,
        best,
        mbps
    );
    let min: f64 = std::env::var("ORCHARD_HTML_MIN_MBPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20.0);
    assert!(mbps >= min, "{mbps:.1} MB/s is below {min} MB/s");
}
