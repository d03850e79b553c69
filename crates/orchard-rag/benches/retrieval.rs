//! Retrieval building blocks, timed: the chunker's throughput on generated Markdown, and
//! exact and IVF vector search at 10,000 and 100,000 clustered 384-dimensional vectors
//! (build time, p50/p95 latency, IVF recall@10 against exact).
//!
//! Run with `cargo bench -p orchard-rag --bench retrieval`. Plain `std::time::Instant`
//! timing; the figures are for comparing changes on one machine, not absolute truths.

use std::hint::black_box;
use std::time::{Duration, Instant};

use orchard_rag::chunk::{ChunkOptions, chunk, count_tokens};
use orchard_rag::fuse::{RRF_K, rrf};
use orchard_rag::keyword::index_text;
use orchard_rag::loaders::{Limits, load};
use orchard_rag::vector::{ExactIndex, IvfIndex, VectorIndex};

const DIMS: usize = 384;
const QUERIES: usize = 300;
const K: usize = 10;

/// Vectors with their ids, as the indexes take them.
type Items = Vec<(u64, Vec<f32>)>;

fn main() {
    bench_chunker();
    for n in [10_000, 100_000] {
        bench_vectors(n);
    }
}

/// A small seeded generator (xorshift64*), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Roughly normal (a sum of four uniforms), mean 0, deviation 1.
    fn gauss(&mut self) -> f32 {
        let sum: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (sum - 2.0) * 1.732
    }
}

const WORDS: &[&str] = &[
    "the",
    "ownership",
    "rules",
    "memory",
    "is",
    "managed",
    "through",
    "a",
    "system",
    "of",
    "compiler",
    "checks",
    "borrowing",
    "reference",
    "value",
    "heap",
    "stack",
    "program",
    "variable",
    "scope",
    "when",
    "goes",
    "out",
    "dropped",
    "string",
    "literal",
    "data",
    "function",
    "returns",
    "parameter",
    "lifetime",
    "mutable",
    "immutable",
    "slice",
    "pointer",
    "allocation",
    "knowledge",
    "retrieval",
    "embedding",
    "passage",
    "document",
    "internationalization",
    "configuration",
    "and",
    "with",
    "for",
    "in",
    "to",
    "it",
];

const CJK: &str = "知识库是一个用来存放文档的地方检索增强生成需要把文本切成段落再计算向量";

/// About `bytes` of Markdown: nested headings, paragraphs of sentences, lists, code
/// blocks and some Chinese paragraphs.
fn markdown(bytes: usize, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(bytes + 4096);
    let cjk: Vec<char> = CJK.chars().collect();
    while out.len() < bytes {
        let level = 1 + rng.below(3);
        out.push_str(&"#".repeat(level));
        out.push(' ');
        for _ in 0..2 + rng.below(4) {
            out.push_str(WORDS[rng.below(WORDS.len())]);
            out.push(' ');
        }
        out.push_str("\n\n");
        for _ in 0..1 + rng.below(6) {
            match rng.below(10) {
                0 => {
                    out.push_str("```rust\n");
                    for line in 0..3 + rng.below(12) {
                        out.push_str(&format!("let x{line} = compute({line}); // note\n"));
                    }
                    out.push_str("```\n\n");
                }
                1 => {
                    for _ in 0..2 + rng.below(5) {
                        out.push_str("- ");
                        for _ in 0..3 + rng.below(8) {
                            out.push_str(WORDS[rng.below(WORDS.len())]);
                            out.push(' ');
                        }
                        out.push('\n');
                    }
                    out.push('\n');
                }
                2 => {
                    for _ in 0..3 + rng.below(6) {
                        for _ in 0..8 + rng.below(20) {
                            out.push(cjk[rng.below(cjk.len())]);
                        }
                        out.push('。');
                    }
                    out.push_str("\n\n");
                }
                _ => {
                    // Paragraphs from one sentence to several hundred words.
                    let sentences = if rng.below(8) == 0 {
                        40
                    } else {
                        1 + rng.below(8)
                    };
                    for _ in 0..sentences {
                        for w in 0..4 + rng.below(20) {
                            if w > 0 {
                                out.push(' ');
                            }
                            out.push_str(WORDS[rng.below(WORDS.len())]);
                            if rng.below(12) == 0 {
                                out.push(',');
                            }
                        }
                        out.push_str(". ");
                    }
                    out.push_str("\n\n");
                }
            }
        }
    }
    out
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

/// The fastest and the median of `runs` timings of `f`.
fn time_runs(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[times.len() / 2])
}

fn bench_chunker() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let text = markdown(8 << 20, &mut rng);
    let limits = Limits {
        max_bytes: u64::MAX,
        max_chars: usize::MAX,
    };
    let loaded = match load("bench.md", text.as_bytes(), &limits) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("the generated Markdown did not load: {error}");
            return;
        }
    };
    let bytes = loaded.text.len();
    println!(
        "chunker: {:.1} MB of generated Markdown",
        bytes as f64 / 1e6
    );
    for opts in [
        ChunkOptions::default(),
        ChunkOptions {
            size: 256,
            overlap: 32,
        },
        ChunkOptions {
            size: 128,
            overlap: 0,
        },
    ] {
        let mut chunks = Vec::new();
        let (best, median) = time_runs(7, || chunks = black_box(chunk(&loaded, &opts)));
        let tokens: usize = chunks.iter().map(|c| c.tokens).sum();
        println!(
            "  chunk size {:>3} overlap {:>2}: {:>6.0} MB/s best, {:>6.0} MB/s median; {} chunks, {:.0} tokens on average",
            opts.size,
            opts.overlap,
            mb_per_s(bytes, best),
            mb_per_s(bytes, median),
            chunks.len(),
            tokens as f64 / chunks.len().max(1) as f64,
        );
    }
    let (best, _) = time_runs(7, || {
        black_box(count_tokens(black_box(&loaded.text)));
    });
    println!("  count_tokens: {:>6.0} MB/s", mb_per_s(bytes, best));
    let (best, _) = time_runs(7, || {
        black_box(index_text(black_box(&loaded.text)));
    });
    println!("  index_text:   {:>6.0} MB/s", mb_per_s(bytes, best));
}

/// `n` vectors and `QUERIES` queries around `n / 50` random centres: neighbours in a
/// cluster have a cosine similarity near 0.5, like sentence embeddings on one topic.
fn clustered(n: usize, rng: &mut Rng) -> (Items, Vec<Vec<f32>>) {
    let clusters = (n / 50).max(1);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..DIMS).map(|_| rng.gauss()).collect())
        .collect();
    let point = |rng: &mut Rng| -> Vec<f32> {
        let centre = &centres[rng.below(clusters)];
        centre.iter().map(|&c| c + rng.gauss()).collect()
    };
    let items = (0..n as u64).map(|id| (id, point(rng))).collect();
    let queries = (0..QUERIES).map(|_| point(rng)).collect();
    (items, queries)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// Latencies of `index` over the queries, and its results.
fn run(index: &dyn VectorIndex, queries: &[Vec<f32>]) -> (Duration, Duration, Vec<Vec<u64>>) {
    // One untimed pass warms the caches.
    for query in queries.iter().take(20) {
        black_box(index.search(query, K));
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut results = Vec::with_capacity(queries.len());
    for query in queries {
        let start = Instant::now();
        let found = black_box(index.search(query, K));
        times.push(start.elapsed());
        results.push(found.into_iter().map(|(id, _)| id).collect());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95), results)
}

fn recall(exact: &[Vec<u64>], approximate: &[Vec<u64>]) -> f64 {
    let mut found = 0;
    let mut total = 0;
    for (want, got) in exact.iter().zip(approximate) {
        found += got.iter().filter(|id| want.contains(id)).count();
        total += want.len();
    }
    found as f64 / total.max(1) as f64
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

fn bench_vectors(n: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let (items, queries) = clustered(n, &mut rng);
    println!(
        "vectors: {n} x {DIMS}, {} clusters, {QUERIES} queries, k = {K}",
        n / 50
    );

    let start = Instant::now();
    let exact = ExactIndex::new(DIMS, items.clone());
    let exact_build = start.elapsed();
    let (p50, p95, exact_results) = run(&exact, &queries);
    println!(
        "  exact: build {:>7.1} ms; search p50 {:>6.2} ms, p95 {:>6.2} ms",
        ms(exact_build),
        ms(p50),
        ms(p95)
    );

    let start = Instant::now();
    let mut ivf = IvfIndex::new(DIMS, items);
    let ivf_build = start.elapsed();
    let default_nprobe = ivf.nprobe();
    let (p50, p95, ivf_results) = run(&ivf, &queries);
    println!(
        "  ivf:   build {:>7.1} ms; search p50 {:>6.2} ms, p95 {:>6.2} ms; recall@10 {:.3} ({} lists, nprobe {})",
        ms(ivf_build),
        ms(p50),
        ms(p95),
        recall(&exact_results, &ivf_results),
        ivf.lists(),
        default_nprobe,
    );
    for nprobe in [1, 2, 4, default_nprobe / 2, default_nprobe * 2] {
        if nprobe == 0 || nprobe == default_nprobe {
            continue;
        }
        ivf.set_nprobe(nprobe);
        let (p50, p95, results) = run(&ivf, &queries);
        println!(
            "         nprobe {:>3}: search p50 {:>6.2} ms, p95 {:>6.2} ms; recall@10 {:.3}",
            ivf.nprobe(),
            ms(p50),
            ms(p95),
            recall(&exact_results, &results),
        );
    }

    // Fusing two rankings of 50 is negligible next to the searches; measured to be sure.
    let keyword: Vec<u64> = (0..50).map(|i| i * 7 % n as u64).collect();
    let vector: Vec<u64> = (0..50).map(|i| i * 13 % n as u64).collect();
    let rankings = [keyword, vector];
    let (best, _) = time_runs(1000, || {
        black_box(rrf(black_box(&rankings), RRF_K));
    });
    println!(
        "  rrf of two rankings of 50: {:.1} µs",
        best.as_secs_f64() * 1e6
    );
}
