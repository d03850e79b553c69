//! Throughput of the local embedder on chunks of about 200 words (256 tokens after
//! truncation, the most all-MiniLM-L6-v2 reads), as a knowledge base would embed them.
//!
//!     ORCHARD_TEST_MINILM=target/test-data/all-MiniLM-L6-v2 cargo bench -p orchard-embed
//!
//! Prints chunks per second and tokens per second for a few batch sizes. Run in test mode
//! (`cargo test --benches`) it only embeds one chunk, as a smoke test.

use std::time::{Duration, Instant};

use orchard_embed::LocalEmbedder;

const WORDS: &[&str] = &[
    "the",
    "orchard",
    "keeps",
    "every",
    "conversation",
    "on",
    "your",
    "own",
    "machine",
    "private",
    "search",
    "finds",
    "notes",
    "about",
    "apples",
    "pears",
    "and",
    "the",
    "weather",
    "a",
    "model",
    "reads",
    "documents",
    "while",
    "nothing",
    "leaves",
    "local",
    "embedding",
    "vectors",
    "of",
    "meaning",
    "with",
    "care",
    "gardeners",
    "prune",
    "trees",
    "in",
    "winter",
    "spring",
    "brings",
    "blossom",
    "bees",
    "pollinate",
    "flowers",
    "harvest",
    "autumn",
    "cider",
    "press",
    "juice",
    "storage",
    "cellar",
    "temperature",
    "humidity",
    "ripen",
    "slowly",
    "is",
    "to",
    "for",
    "that",
    "it",
    "was",
    "not",
    "but",
    "they",
    "which",
    "from",
    "by",
    "this",
];

/// `count` texts of `words` words each, deterministic and all different.
fn chunks(count: usize, words: usize) -> Vec<String> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count)
        .map(|_| {
            let mut text = String::new();
            for w in 0..words {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if w > 0 {
                    text.push_str(if state.is_multiple_of(17) { ". " } else { " " });
                }
                text.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
            }
            text
        })
        .collect()
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let Some(dir) = std::env::var_os("ORCHARD_TEST_MINILM") else {
        if bench_mode {
            eprintln!(
                "ORCHARD_TEST_MINILM is not set: run ./scripts/test once (it fetches \
                 all-MiniLM-L6-v2 into target/test-data), then \
                 ORCHARD_TEST_MINILM=target/test-data/all-MiniLM-L6-v2 cargo bench -p orchard-embed"
            );
            std::process::exit(2);
        }
        println!("embed bench: ORCHARD_TEST_MINILM is not set, nothing to smoke-test");
        return;
    };
    let started = Instant::now();
    let embedder = match LocalEmbedder::load(dir.as_ref()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let load_time = started.elapsed();
    let texts = chunks(64, 200);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    if !bench_mode {
        let v = embedder.embed(&refs[..1]).unwrap_or_default();
        assert_eq!(v.len(), 1);
        println!("embed bench: smoke test ok");
        return;
    }

    let tokens: Vec<usize> = refs
        .iter()
        .map(|t| embedder.count_tokens(t).min(embedder.max_tokens()))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} loaded in {:.2?}; {} threads; chunks of 200 words = {:.0} tokens on average \
         (max {})",
        embedder.model_name(),
        load_time,
        threads,
        tokens.iter().sum::<usize>() as f64 / tokens.len() as f64,
        embedder.max_tokens()
    );
    // Other work on the machine slows some rounds down: several short rounds per batch
    // size, reporting the best (the machine's speed) and the median.
    for batch in [1, 8, 32] {
        let _ = embedder.embed(&refs[..batch]); // warm up caches and the allocator
        let mut rounds = Vec::new();
        let mut i = 0;
        let bench_start = Instant::now();
        while rounds.len() < 5
            || (bench_start.elapsed() < Duration::from_secs(6) && rounds.len() < 15)
        {
            let mut chunks_done = 0usize;
            let mut tokens_done = 0usize;
            let start = Instant::now();
            while chunks_done < 32.max(batch) {
                let from = (i * batch) % refs.len();
                let to = (from + batch).min(refs.len());
                let vectors = embedder.embed(&refs[from..to]).unwrap_or_default();
                assert_eq!(vectors.len(), to - from);
                chunks_done += to - from;
                tokens_done += tokens[from..to].iter().sum::<usize>();
                i += 1;
            }
            let secs = start.elapsed().as_secs_f64();
            rounds.push((chunks_done as f64 / secs, tokens_done as f64 / secs));
        }
        rounds.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (best, median) = (rounds[0], rounds[rounds.len() / 2]);
        println!(
            "batch {batch:>2}: best {:>5.1} chunks/s {:>6.0} tokens/s | median {:>5.1} chunks/s \
             {:>6.0} tokens/s ({} rounds of 32 chunks)",
            best.0,
            best.1,
            median.0,
            median.1,
            rounds.len()
        );
    }
}
