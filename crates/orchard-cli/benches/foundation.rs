//! Foundation figures, measured against the release binary (run by hand):
//!
//! ```text
//! cargo bench -p orchard-cli --bench foundation
//! ```
//!
//! 1. `orchard serve` cold start: process spawn → first `200` on `/healthz`
//!    (first run, which creates the database, and later runs on an existing one).
//! 2. Idle RSS of `orchard serve` after start-up and one request.
//! 3. `orchard chat` overhead against the fake provider: time from spawn to the first
//!    byte of the answer on stdout, minus the provider's own first-byte delay.
//!
//! Goals from the issue: < 100 ms, < 30 MB, < 20 ms. The figures are printed, not
//! asserted: machines differ, and tests never fail for being slow.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use orchard_testkit::{Answer, FakeProvider};

mod common;
use common::{BIN, orchard, proc_status, spawn_serve, stop};

const RUNS: usize = 25;

fn healthz(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

/// Spawns `serve` and returns (child, address, time to first 200).
fn start_serve(data: &std::path::Path) -> (Child, String, Duration) {
    let t0 = Instant::now();
    let (child, addr) = spawn_serve(orchard(data, &["serve", "--bind", "127.0.0.1:0"]));
    while !healthz(&addr) {}
    (child, addr, t0.elapsed())
}

fn summary(mut xs: Vec<f64>) -> String {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pick = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    format!(
        "min {:7.2}  median {:7.2}  p95 {:7.2}  max {:7.2}",
        xs[0],
        pick(0.5),
        pick(0.95),
        xs[xs.len() - 1]
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would too. Do nothing when
    // run as a test so the suite stays fast.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    println!("Orchard foundation benchmark ({RUNS} runs each, binary {BIN})\n");

    // 1. Cold start.
    let mut first = Vec::new();
    let mut warm = Vec::new();
    for i in 0..RUNS {
        let data = root.path().join(format!("serve-{i}"));
        let (child, _, t) = start_serve(&data);
        first.push(t.as_secs_f64() * 1e3);
        stop(child);
        let (child, _, t) = start_serve(&data);
        warm.push(t.as_secs_f64() * 1e3);
        stop(child);
    }
    println!(
        "serve start → first 200 /healthz, new data dir      (ms): {}",
        summary(first)
    );
    println!(
        "serve start → first 200 /healthz, existing data dir (ms): {}",
        summary(warm)
    );

    // 2. Idle RSS.
    let data = root.path().join("rss");
    let (child, addr, _) = start_serve(&data);
    for _ in 0..10 {
        healthz(&addr);
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss = proc_status(child.id(), "VmRSS");
    stop(child);
    println!(
        "serve idle RSS after start-up and 10 requests (MiB): {:.1}",
        rss as f64 / 1024.0
    );

    // 3. Chat overhead.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeProvider::start());
    let data = root.path().join("chat");
    let add = orchard(
        &data,
        &["provider", "add", "fake", "--base-url", &fake.base_url()],
    )
    .output()
    .unwrap();
    assert!(add.status.success());
    for delay_ms in [0u64, 200] {
        let mut overhead = Vec::new();
        for _ in 0..RUNS {
            fake.push(
                Answer::text(&["first ", "second"])
                    .first_byte_delay(Duration::from_millis(delay_ms)),
            );
            let t0 = Instant::now();
            let mut child = orchard(&data, &["chat", "-m", "fake:fake-small", "hi"])
                .spawn()
                .unwrap();
            let mut byte = [0u8; 1];
            child
                .stdout
                .as_mut()
                .unwrap()
                .read_exact(&mut byte)
                .unwrap();
            let ttfb = t0.elapsed();
            let _ = child.wait();
            overhead.push(ttfb.as_secs_f64() * 1e3 - delay_ms as f64);
        }
        println!(
            "chat spawn → first answer byte on stdout minus provider delay {delay_ms:>3} ms (ms): {}",
            summary(overhead)
        );
    }
}
