//! Knowledge-base figures, on a corpus every machine with a Rust toolchain has: the HTML
//! of The Rust Programming Language and of the standard library (`rustc --print
//! sysroot`, then `share/doc/rust/html/`).
//!
//! `cargo bench -p orchard-cli --bench knowledge` prints:
//! 1. ingest (read + cut + keyword index, no embedding) of the whole book, and of the
//!    standard library docs: documents/s and MB/s;
//! 2. local embedding throughput (all-MiniLM-L6-v2, passages/s) on the book's passages;
//! 3. recall@5 of keyword, vector and hybrid search for the labelled questions in
//!    `benches/data/rust_book_questions.json`;
//! 4. hybrid retrieval latency p50/p95 at 100,000 passages.
//!
//! The local model comes from `ORCHARD_TEST_MINILM` (`./scripts/test` fetches it);
//! without it, parts 2–4 are skipped with a note. `ORCHARD_BENCH_INGEST_ONLY=1` runs
//! part 1 alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use orchard_app::App;
use orchard_app::config::{self, Flags};
use orchard_app::knowledge::{KbSettings, Retrieval};
use orchard_core::ChunkId;
use orchard_core::knowledge::{ChunkLocation, DocStatus, EmbedderSpec};
use orchard_store::{NewChunk, ParsedDocument};

const PASSAGES_FOR_LATENCY: usize = 100_000;

fn docs_dir() -> PathBuf {
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc --print sysroot");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("share/doc/rust/html")
}

/// The book's chapter pages: every `.html` but `print.html` (the whole book again on
/// one page) and the redirect stubs of old chapter names (a few hundred bytes each).
fn book_pages(book: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(book)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .filter(|p| p.file_name().is_some_and(|n| n != "print.html"))
        .filter(|p| {
            std::fs::metadata(p)
                .map(|m| m.len() > 2048)
                .unwrap_or(false)
        })
        .collect();
    pages.sort();
    pages
}

fn html_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "html") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

async fn open(dir: &Path, env: &[(&str, &str)]) -> App {
    let flags = Flags {
        data_dir: Some(dir.to_path_buf()),
        ..Flags::default()
    };
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    App::open(config::load(&flags, &env).unwrap())
        .await
        .unwrap()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Ingests `files` into a new keyword-only base; returns (documents, bytes, seconds).
async fn ingest(app: &App, name: &str, files: &[PathBuf]) -> (usize, u64, f64, u64) {
    let mut settings = KbSettings::named(name);
    settings.chunk_size = 256;
    settings.chunk_overlap = 32;
    let kb = app.kb_create(&settings).await.unwrap();
    let sources: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let t = Instant::now();
    app.kb_add(kb.id, &sources).await.unwrap();
    let report = app.kb_ingest(Some(kb.id)).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    let chunks: u64 = app
        .kb_documents(kb.id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.chunks)
        .sum();
    assert_eq!(report.ready as usize + report.failed as usize, files.len());
    (report.ready as usize, bytes, secs, chunks)
}

#[derive(serde::Deserialize)]
struct Question {
    question: String,
    page: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let html = docs_dir();
    let book = html.join("book");
    let pages = book_pages(&book);
    let tmp = tempfile::tempdir().unwrap();
    let mut figures: Vec<(String, String, String)> = Vec::new();

    // 1. Ingest.
    let app = open(&tmp.path().join("ingest"), &[]).await;
    let (docs, bytes, secs, chunks) = ingest(&app, "book", &pages).await;
    println!(
        "book: {docs} pages, {:.1} MB of HTML, {chunks} passages, {secs:.2} s",
        bytes as f64 / 1e6
    );
    figures.push((
        "ingest, the book (no embedding)".into(),
        format!(
            "{:.0} docs/s, {:.1} MB/s",
            docs as f64 / secs,
            bytes as f64 / 1e6 / secs
        ),
        "≥ 20 MB/s".into(),
    ));
    let std_files = html_under(&html.join("std"));
    let (docs, bytes, secs, chunks) = ingest(&app, "std", &std_files).await;
    println!(
        "std: {docs} pages, {:.1} MB of HTML, {chunks} passages, {secs:.2} s",
        bytes as f64 / 1e6
    );
    figures.push((
        "ingest, the std docs (no embedding)".into(),
        format!(
            "{:.0} docs/s, {:.1} MB/s",
            docs as f64 / secs,
            bytes as f64 / 1e6 / secs
        ),
        "≥ 20 MB/s".into(),
    ));
    app.shutdown().await;

    if std::env::var_os("ORCHARD_BENCH_INGEST_ONLY").is_some() {
        print_figures(&figures);
        return;
    }
    let Ok(model) = std::env::var("ORCHARD_TEST_MINILM") else {
        println!(
            "ORCHARD_TEST_MINILM is not set: skipping embedding, recall and latency (run ./scripts/test once to fetch the model)"
        );
        print_figures(&figures);
        return;
    };

    // 2. Local embedding of the book, 3. recall@5.
    let app = open(&tmp.path().join("quality"), &[]).await;
    app.add_local_model(Path::new(&model), Some("minilm"))
        .await
        .unwrap();
    let mut settings = KbSettings::named("book");
    settings.embedder = EmbedderSpec::Local {
        model: "minilm".into(),
    };
    settings.chunk_size = 256;
    settings.chunk_overlap = 32;
    let kb = app.kb_create(&settings).await.unwrap();
    let sources: Vec<String> = pages.iter().map(|p| p.display().to_string()).collect();
    app.kb_add(kb.id, &sources).await.unwrap();
    let t = Instant::now();
    let report = app.kb_ingest(Some(kb.id)).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "book with the local embedder: {} passages embedded in {secs:.1} s (reading included)",
        report.embedded
    );
    figures.push((
        "local embedding (all-MiniLM-L6-v2, 256-token passages)".into(),
        format!("{:.1} passages/s", report.embedded as f64 / secs),
        "(reported)".into(),
    ));

    let questions: Vec<Question> =
        serde_json::from_str(include_str!("data/rust_book_questions.json")).unwrap();
    for (label, retrieval) in [
        ("keyword", Retrieval::Keyword),
        ("vector", Retrieval::Vector),
        ("hybrid", Retrieval::Hybrid),
    ] {
        let mut found = 0;
        for q in &questions {
            let hits = app
                .kb_search_with(kb.id, &q.question, 5, retrieval)
                .await
                .unwrap()
                .hits;
            if hits
                .iter()
                .any(|h| h.passage.source.ends_with(&format!("/{}", q.page)))
            {
                found += 1;
            }
        }
        let recall = found as f64 / questions.len() as f64;
        println!(
            "recall@5 {label}: {found}/{} = {recall:.2}",
            questions.len()
        );
        figures.push((
            format!("recall@5, {label} ({} questions)", questions.len()),
            format!("{recall:.2}"),
            "(reported)".into(),
        ));
    }

    // 4. Latency at 100,000 passages: the book's real passages and vectors, repeated
    // with a small deterministic perturbation of each vector until there are 100,000.
    let book_vectors = app
        .store()
        .base_vectors(app.user(), kb.id, "local:minilm")
        .await
        .unwrap();
    let texts = app
        .store()
        .passages(
            app.user(),
            &book_vectors
                .iter()
                .map(|(id, _)| *id)
                .collect::<Vec<ChunkId>>(),
        )
        .await
        .unwrap();
    let big = app
        .kb_create(&{
            let mut s = KbSettings::named("big");
            s.embedder = EmbedderSpec::Local {
                model: "minilm".into(),
            };
            s
        })
        .await
        .unwrap();
    let t = Instant::now();
    let mut made = 0usize;
    let mut copy = 0usize;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    while made < PASSAGES_FOR_LATENCY {
        let doc = app
            .store()
            .queue_document(app.user(), big.id, &format!("copy-{copy}"), None)
            .await
            .unwrap();
        let n = texts.len().min(PASSAGES_FOR_LATENCY - made);
        let chunks: Vec<NewChunk> = texts[..n]
            .iter()
            .map(|p| NewChunk {
                search_text: orchard_rag::keyword::index_text(&p.text),
                text: p.text.clone(),
                location: ChunkLocation {
                    start: 0,
                    end: 0,
                    page: None,
                    heading_path: Vec::new(),
                },
                tokens: 0,
            })
            .collect();
        app.store()
            .store_parsed(
                app.user(),
                doc.id,
                &ParsedDocument {
                    title: None,
                    kind: "text".into(),
                    text: String::new(),
                    bytes: 0,
                    content_hash: format!("{copy}"),
                    chunks,
                },
                DocStatus::Embedding,
            )
            .await
            .unwrap();
        let ids = app
            .store()
            .chunks_to_embed(app.user(), doc.id, "local:minilm", n)
            .await
            .unwrap();
        let vectors: Vec<(ChunkId, Vec<f32>)> = ids
            .iter()
            .zip(&book_vectors)
            .map(|((id, _), (_, v))| {
                let mut v = v.clone();
                for x in &mut v {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    *x += ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02;
                }
                (*id, v)
            })
            .collect();
        app.store()
            .store_embeddings(app.user(), "local:minilm", &vectors)
            .await
            .unwrap();
        app.store()
            .set_document_status(app.user(), doc.id, DocStatus::Ready, None)
            .await
            .unwrap();
        made += n;
        copy += 1;
    }
    println!(
        "built a base of {made} passages in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The first search builds the in-memory index; it is timed on its own.
    let t = Instant::now();
    app.kb_search(big.id, "warm up the index", 5).await.unwrap();
    let build = t.elapsed();
    for (label, retrieval) in [
        ("keyword", Retrieval::Keyword),
        ("vector (query embedding included)", Retrieval::Vector),
        ("hybrid (query embedding included)", Retrieval::Hybrid),
    ] {
        let mut times = Vec::new();
        for q in questions.iter().cycle().take(200) {
            let t = Instant::now();
            app.kb_search_with(big.id, &q.question, 5, retrieval)
                .await
                .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{label} at {made} passages: p50 {:.1} ms, p95 {:.1} ms",
            pct(&times, 0.5),
            pct(&times, 0.95)
        );
        figures.push((
            format!("{label}, {made} passages, p50 / p95"),
            format!("{:.1} / {:.1} ms", pct(&times, 0.5), pct(&times, 0.95)),
            if label.starts_with("hybrid") {
                "p95 < 30 ms".into()
            } else {
                "(reported)".into()
            },
        ));
    }
    figures.push((
        "first search: loading 100k vectors and building the index".into(),
        format!("{:.0} ms", build.as_secs_f64() * 1e3),
        "(once per change)".into(),
    ));
    app.shutdown().await;
    print_figures(&figures);
}

fn print_figures(figures: &[(String, String, String)]) {
    println!("\n{:<62} {:>24}   goal", "figure", "measured");
    for (name, value, goal) in figures {
        println!("{name:<62} {value:>24}   {goal}");
    }
}
