//! Web studio figures, measured against the release binary (run by hand):
//!
//! ```text
//! cargo bench -p orchard-cli --bench studio
//! ```
//!
//! 1. First page of a long conversation: `GET /t/{id}` (the whole HTML page, which
//!    renders the newest page of messages) and `GET /api/v1/topics/{id}/messages`, for
//!    topics of 10,000, 40 (one full page) and 10 messages, imported through the store,
//!    against a real `orchard serve`. Timed by a plain HTTP/1.1 client on loopback, from
//!    connect to the last byte, one connection per request like a page load.
//! 2. 500 answers streamed at once from the fake provider through one `orchard serve`
//!    (each answer a new topic, 200 pieces, 10 ms apart, stored as it streams): peak
//!    RSS of the server, time until every stream has said `done`, the longest silence
//!    between two events of one stream, and how many streams ended with `done`; with
//!    what helps to explain them: CPU used, where the memory is, slow TCP connects, and
//!    the warnings `serve` logged (its log is kept next to the data dir).
//! 3. JavaScript and CSS shipped to the browser.
//!
//! Goals from the issue: < 50 ms and as fast as with 10 messages; < 150 MB and no
//! stalls; < 100 KB. The figures are printed, not asserted: machines differ, and tests
//! never fail for being slow.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use orchard_app::App;
use orchard_app::config::{self, Flags};
use orchard_core::message::{
    ArchivedBlock, ArchivedMessage, ArchivedModel, BlockKind, MessageStatus, Role, TopicArchive,
};
use orchard_core::{Timestamp, TopicId};
use orchard_testkit::{Answer, FakeProvider};

mod common;
use common::{BIN, orchard, proc_status, spawn_serve, stop};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Timed requests per URL in part 1.
const RUNS: usize = 60;
/// Messages of the topics whose first page is timed: a long one, one that fills exactly
/// one page (the studio's page size, 40), and a short one.
const SIZES: [usize; 3] = [10_000, 40, 10];
/// Answers streamed at once in part 2.
const STREAMS: usize = 500;
/// Pieces per streamed answer, and the provider's pause between two of them.
const PIECES: usize = 200;
const PIECE_DELAY: Duration = Duration::from_millis(10);
/// The last piece of every streamed answer: a `done` that shows it is complete.
const END: &str = "END-OF-ANSWER";
/// A stream silent for this long is given up (and counted as not done).
const GIVE_UP: Duration = Duration::from_secs(30);

/// Spawns `serve` (its log going to `data`.log) and returns it with its address once
/// `/healthz` answers.
fn start_serve(data: &Path) -> (Child, String) {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let mut cmd = orchard(data, &["serve", "--bind", "127.0.0.1:0"]);
    cmd.stderr(log);
    let (child, addr) = spawn_serve(cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(&addr, "/healthz", None).is_ok_and(|r| r.status == 200) {
        assert!(Instant::now() < deadline, "serve did not answer /healthz");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, addr)
}

/// CPU time (user + system) a process has used, in seconds (USER_HZ = 100).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based).
    let tick = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    (tick(14).unwrap_or(0.0) + tick(15).unwrap_or(0.0)) / 100.0
}

fn pick(xs: &[f64], q: f64) -> f64 {
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs
}

fn summary(xs: &[f64]) -> String {
    format!(
        "min {:7.2}  median {:7.2}  p95 {:7.2}  max {:7.2}",
        xs[0],
        pick(xs, 0.5),
        pick(xs, 0.95),
        xs[xs.len() - 1]
    )
}

// ---------------------------------------------------------------------------------
// A plain blocking HTTP/1.1 client (one connection per request, like a page load).

struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn get(addr: &str, path: &str, cookie: Option<&str>) -> anyhow::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("cookie: {c}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> anyhow::Result<Resp> {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    let mut resp = Resp {
        status,
        head,
        body: raw[at + 4..].to_vec(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        resp.body = dechunk(&resp.body)?;
    }
    Ok(resp)
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(out);
        };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl])?.trim(), 16)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

/// The session cookie and CSRF token of a fresh tab (`GET /`).
fn session(addr: &str) -> (String, String) {
    let page = get(addr, "/", None).unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    let cookie = page
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("GET / sets the session cookie")
        .to_owned();
    let body = page.text();
    let marker = "name=\"csrf-token\" content=\"";
    let at = body.find(marker).expect("the page carries a CSRF token") + marker.len();
    let end = body[at..].find('"').unwrap() + at;
    (cookie, body[at..end].to_owned())
}

// ---------------------------------------------------------------------------------
// 1. Long conversations.

fn question(i: usize) -> String {
    format!(
        "How do I read a large log file line by line without loading it all into memory? \
         And can I skip the lines that start with `#`? (question {i})"
    )
}

fn answer(i: usize) -> String {
    if i % 4 == 1 {
        format!(
            "Use a **buffered reader**: it reads the file in blocks of 8 KiB and hands you \
             one line at a time, so memory stays flat whatever the size of the file.\n\n\
             ```rust\nuse std::io::{{BufRead, BufReader}};\n\n\
             let file = std::fs::File::open(\"server.log\")?;\n\
             for line in BufReader::new(file).lines() {{\n    let line = line?;\n    \
             if line.starts_with('#') {{\n        continue;\n    }}\n    \
             println!(\"{{line}}\");\n}}\n```\n\n\
             - `lines()` strips the trailing newline.\n\
             - Invalid UTF-8 is an error; use `read_until` for raw bytes.\n\n\
             See [the docs](https://doc.rust-lang.org/std/io/trait.BufRead.html) (answer {i})."
        )
    } else {
        format!(
            "In short, yes. The options compare like this:\n\n\
             | Approach | Memory | Speed |\n|---|---|---|\n\
             | `read_to_string` | whole file | fast |\n\
             | `BufReader::lines` | one line | fast |\n\
             | memory map | none copied | fastest |\n\n\
             1. Open the file once.\n2. Wrap it in a `BufReader`.\n\
             3. Filter with `starts_with('#')` and *skip* the comments.\n\n\
             > Tip: for files over a few GB, check the line length too, since a single \
             huge line still has to fit in memory. (answer {i})"
        )
    }
}

fn archive(title: &str, n: usize) -> TopicArchive {
    let start = Timestamp::now().as_millis() - n as i64 * 1000;
    let at = |i: usize| Timestamp::from_millis(start + i as i64 * 1000);
    let messages = (0..n)
        .map(|i| {
            let user = i % 2 == 0;
            ArchivedMessage {
                parent: i.checked_sub(1),
                role: if user { Role::User } else { Role::Assistant },
                status: MessageStatus::Done,
                model: (!user).then(|| ArchivedModel {
                    provider: "fake".into(),
                    model: "fake-small".into(),
                }),
                blocks: vec![ArchivedBlock {
                    kind: BlockKind::Text,
                    content: if user { question(i) } else { answer(i) },
                    data: None,
                }],
                created_at: at(i),
            }
        })
        .collect();
    TopicArchive {
        title: title.to_owned(),
        created_at: at(0),
        updated_at: at(n),
        messages,
        current: None,
    }
}

/// Creates the data dir with one topic of each of [`SIZES`], through the store.
async fn seed(data: &Path) -> (Vec<TopicId>, usize) {
    let flags = Flags {
        data_dir: Some(data.to_path_buf()),
        ..Flags::default()
    };
    let cfg = config::load(&flags, &BTreeMap::<String, String>::new()).unwrap();
    let app = App::open(cfg).await.unwrap();
    let topics: Vec<TopicArchive> = SIZES
        .iter()
        .map(|n| archive(&format!("{n} messages"), *n))
        .collect();
    let bytes = topics[0]
        .messages
        .iter()
        .map(|m| m.blocks[0].content.len())
        .sum();
    let ids = app
        .store()
        .import_topics(app.user(), &topics)
        .await
        .unwrap();
    app.shutdown().await;
    (ids, bytes)
}

struct PageFigures {
    /// Per size of [`SIZES`]: sorted timings of the page and of the API.
    page: Vec<Vec<f64>>,
    api: Vec<Vec<f64>>,
    page_bytes: Vec<usize>,
    api_bytes: Vec<usize>,
    js: usize,
    css: usize,
}

fn long_topics(root: &Path, rt: &tokio::runtime::Runtime) -> PageFigures {
    let data = root.join("pages");
    let t0 = Instant::now();
    let (ids, bytes) = rt.block_on(seed(&data));
    println!(
        "seeded topics of {SIZES:?} messages ({:.1} MB of Markdown in the longest) through import_topics in {:.2} s",
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    let (child, addr) = start_serve(&data);
    let (cookie, _) = session(&addr);
    let paths = |id: TopicId| [format!("/t/{id}"), format!("/api/v1/topics/{id}/messages")];
    let mut f = PageFigures {
        page: vec![Vec::new(); SIZES.len()],
        api: vec![Vec::new(); SIZES.len()],
        page_bytes: vec![0; SIZES.len()],
        api_bytes: vec![0; SIZES.len()],
        js: 0,
        css: 0,
    };
    let timed = |path: &str| {
        let t = Instant::now();
        let r = get(&addr, path, Some(&cookie)).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        (ms, r.body.len())
    };
    // Warm up (SQLite's page cache, the allocator), then alternate sizes and URLs so
    // that noise from other work on the machine falls on all of them alike.
    for _ in 0..5 {
        for id in &ids {
            for p in paths(*id) {
                timed(&p);
            }
        }
    }
    for _ in 0..RUNS {
        for (k, id) in ids.iter().enumerate() {
            let [page, api] = paths(*id);
            let (ms, n) = timed(&page);
            f.page[k].push(ms);
            f.page_bytes[k] = n;
            let (ms, n) = timed(&api);
            f.api[k].push(ms);
            f.api_bytes[k] = n;
        }
    }
    // 3. Assets, from the same server.
    f.js = get(&addr, "/assets/app.js", None).unwrap().body.len();
    f.css = get(&addr, "/assets/app.css", None).unwrap().body.len();
    assert_eq!(f.js, orchard_server::ui::APP_JS.len());
    assert_eq!(f.css, orchard_server::ui::APP_CSS.len());
    stop(child);
    for k in 0..SIZES.len() {
        f.page[k] = sorted(std::mem::take(&mut f.page[k]));
        f.api[k] = sorted(std::mem::take(&mut f.api[k]));
    }
    for (k, n) in SIZES.into_iter().enumerate() {
        println!(
            "GET /t/{{id}}, {n:>5} messages ({:>6} B) (ms): {}",
            f.page_bytes[k],
            summary(&f.page[k])
        );
        println!(
            "GET /api/v1/topics/{{id}}/messages, {n:>5} messages ({:>6} B) (ms): {}",
            f.api_bytes[k],
            summary(&f.api[k])
        );
    }
    f
}

// ---------------------------------------------------------------------------------
// 2. Many answers at once.

/// What one browser tab saw of one answer.
#[derive(Default)]
struct StreamRun {
    /// POST /api/v1/chat round trip.
    post_ms: f64,
    /// From the POST's response to the first event.
    first_ms: f64,
    /// Gaps between consecutive events.
    gaps: Vec<f64>,
    /// Ended with `done`.
    done: bool,
    /// The `done` shows the whole answer.
    complete: bool,
    /// When it ended, from the start of the burst.
    end_ms: f64,
    /// What went wrong, if anything.
    error: Option<String>,
}

struct Tab {
    addr: String,
    cookie: String,
    csrf: String,
    /// Connections that took a second or more to open: a SYN that was dropped because
    /// the server's listen queue was full, and sent again after the kernel's 1 s timeout.
    slow_connects: AtomicUsize,
}

type Conn = tokio::io::BufReader<tokio::net::TcpStream>;

impl Tab {
    async fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<Conn> {
        let t = Instant::now();
        let mut s = tokio::net::TcpStream::connect(&self.addr).await?;
        if t.elapsed() >= Duration::from_millis(900) {
            self.slow_connects.fetch_add(1, Ordering::Relaxed);
        }
        s.set_nodelay(true)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncookie: {}\r\nx-csrf-token: {}\r\n",
            self.addr, self.cookie, self.csrf
        );
        if let Some(b) = body {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        if let Some(b) = body {
            s.write_all(b).await?;
        }
        Ok(tokio::io::BufReader::new(s))
    }

    /// Sends a message to the fake model; returns the reply's id.
    async fn chat(&self, text: &str) -> anyhow::Result<i64> {
        let body = serde_json::json!({"text": text, "models": ["fake:fake-small"]});
        let mut r = self
            .send("POST", "/api/v1/chat", Some(&serde_json::to_vec(&body)?))
            .await
            .context("sending")?;
        let mut raw = Vec::new();
        r.read_to_end(&mut raw)
            .await
            .context("reading the response")?;
        let resp = parse(&raw)?;
        if resp.status != 200 {
            bail!("POST /api/v1/chat: {} {}", resp.status, resp.text());
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.body)?;
        v["reply_ids"][0]
            .as_i64()
            .ok_or_else(|| anyhow!("no reply id in {v}"))
    }

    /// Sends a message and follows its answer's event stream to the end.
    async fn one(&self, n: usize, burst: Instant) -> StreamRun {
        let mut run = StreamRun::default();
        if let Err(e) = self.follow(n, &mut run).await {
            run.error = Some(format!("{e:#}"));
        }
        run.end_ms = burst.elapsed().as_secs_f64() * 1e3;
        run
    }

    async fn follow(&self, n: usize, run: &mut StreamRun) -> anyhow::Result<()> {
        let t = Instant::now();
        let reply = self
            .chat(&format!("Question {n}: explain buffered reading."))
            .await
            .context("POST /api/v1/chat")?;
        let posted = Instant::now();
        run.post_ms = (posted - t).as_secs_f64() * 1e3;
        let mut r = self
            .send("GET", &format!("/api/v1/messages/{reply}/stream"), None)
            .await
            .context("GET …/stream")?;
        let mut line = String::new();
        r.read_line(&mut line).await.context("GET …/stream")?;
        if !line.starts_with("HTTP/1.1 200") {
            bail!("stream: {line}");
        }
        loop {
            line.clear();
            r.read_line(&mut line).await?;
            if line.trim_end().is_empty() {
                break;
            }
        }
        let mut buf = String::new();
        let mut last = posted;
        let mut first = true;
        loop {
            let event = tokio::time::timeout(GIVE_UP, next_event(&mut r, &mut buf))
                .await
                .map_err(|_| anyhow!("no event for {GIVE_UP:?}"))?
                .context("reading the event stream")?;
            let Some((name, data)) = event else {
                bail!("the stream ended without `done`");
            };
            let now = Instant::now();
            let ms = (now - last).as_secs_f64() * 1e3;
            if first {
                run.first_ms = ms;
                first = false;
            } else {
                run.gaps.push(ms);
            }
            last = now;
            match name.as_str() {
                "update" => {}
                "done" => {
                    run.done = true;
                    run.complete = data.contains(END);
                    return Ok(());
                }
                other => bail!("unexpected event {other}"),
            }
        }
    }
}

/// The next SSE event (name, data), skipping keep-alive comments; `None` at the end.
async fn next_event(r: &mut Conn, buf: &mut String) -> anyhow::Result<Option<(String, String)>> {
    let (mut name, mut data) = (String::new(), String::new());
    loop {
        // Chunked framing: a size line, then the chunk; events may span chunks.
        while !buf.contains("\n\n") {
            let mut size = String::new();
            if r.read_line(&mut size).await? == 0 {
                return Ok(None);
            }
            let n = usize::from_str_radix(size.trim(), 16)?;
            if n == 0 {
                return Ok(None);
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await?;
            buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        let at = buf.find("\n\n").unwrap();
        let event: String = buf.drain(..at + 2).collect();
        for line in event.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                v.trim().clone_into(&mut name);
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !name.is_empty() {
            return Ok(Some((name, data)));
        }
    }
}

/// The streamed answer: Markdown with a code block, cut into about [`PIECES`] pieces
/// (words and line ends), ending with [`END`].
fn answer_pieces() -> Vec<String> {
    let text = "Sure. Reading a file **line by line** keeps memory flat, because a buffered \
        reader hands you one line at a time:\n\n```rust\nuse std::io::{BufRead, BufReader};\n\
        let file = std::fs::File::open(\"server.log\")?;\nfor line in \
        BufReader::new(file).lines() {\n    println!(\"{}\", line?);\n}\n```\n\n- `lines()` \
        strips the newline.\n- Errors come per line.\n\n";
    let words: Vec<&str> = text.split_inclusive([' ', '\n']).collect();
    let mut pieces: Vec<String> = Vec::new();
    while pieces.len() + words.len() < PIECES {
        pieces.extend(words.iter().map(|w| (*w).to_owned()));
    }
    while pieces.len() < PIECES - 1 {
        pieces.push("more ".to_owned());
    }
    pieces.push(END.to_owned());
    pieces
}

struct StreamFigures {
    runs: Vec<StreamRun>,
    total_ms: f64,
    peak_rss_mib: f64,
    hwm_mib: f64,
    rss_before_mib: f64,
    rss_after_mib: f64,
    threads_max: u64,
    serve_cpu: f64,
    bench_cpu: f64,
    answer_bytes: usize,
    /// Warnings and errors `serve` logged, by message, with how many times.
    log: BTreeMap<String, usize>,
    /// Connections from the tabs to `serve` that took ≥ 1 s to open.
    slow_connects: usize,
    /// Listen-queue overflows and SYN retransmissions during the burst, machine-wide
    /// (so they include the fake provider's listener, which `serve` connects to 500
    /// times at once too).
    tcp: Option<(u64, u64)>,
    /// Where the server's resident memory was at the end of the burst (MiB): malloc
    /// heap, other anonymous memory (thread stacks mostly), files (the binary).
    memory: (f64, f64, f64),
}

/// `ListenOverflows` and `TCPSynRetrans` from /proc/net/netstat (machine-wide).
fn tcp_counters() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let get = |name: &str| -> Option<u64> {
        let i = names.split_whitespace().position(|n| n == name)?;
        values.split_whitespace().nth(i)?.parse().ok()
    };
    Some((get("ListenOverflows")?, get("TCPSynRetrans")?))
}

/// Resident memory of a process by kind (MiB): the malloc heap (`[heap]` and glibc's
/// per-thread arenas, which start on 64 MiB boundaries), other anonymous mappings
/// (thread stacks mostly) and file mappings (the binary and libraries).
fn memory_breakdown(pid: u32) -> (f64, f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let (mut heap, mut anon, mut file) = (0u64, 0u64, 0u64);
    let mut kind = 0;
    for line in text.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            match kind {
                0 => heap += kb,
                1 => anon += kb,
                _ => file += kb,
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(range) = fields.next() else { continue };
        let Some((start, _)) = range.split_once('-') else {
            continue;
        };
        let Ok(start) = u64::from_str_radix(start, 16) else {
            continue; // a "Key: value" line
        };
        let path = fields.nth(4).unwrap_or("");
        kind = if path == "[heap]" || (path.is_empty() && start % (64 << 20) == 0) {
            0
        } else if path.starts_with('/') {
            2
        } else {
            1
        };
    }
    let mib = |kb: u64| kb as f64 / 1024.0;
    (mib(heap), mib(anon), mib(file))
}

/// The WARN and ERROR lines of a log, by message (timestamps and fields left out).
fn log_problems(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
            continue;
        };
        let rest = line[at..].trim_start();
        // The message, without its fields (an error's text, a statement's SQL).
        let end = [" error=", " summary=", " db.statement="]
            .iter()
            .filter_map(|f| rest.find(f))
            .min()
            .unwrap_or(rest.len());
        let key: String = rest[..end].chars().take(140).collect();
        *out.entry(key).or_default() += 1;
    }
    out
}

fn many_streams(root: &Path, rt: &tokio::runtime::Runtime) -> StreamFigures {
    let data = root.join("streams");
    let fake = rt.block_on(FakeProvider::start());
    for args in [
        &["provider", "add", "fake", "--base-url", &fake.base_url()][..],
        &["provider", "models", "fake"][..],
    ] {
        let out = orchard(&data, args).output().unwrap();
        assert!(out.status.success(), "orchard {args:?} failed");
    }
    let pieces = answer_pieces();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    for _ in 0..STREAMS {
        fake.push(Answer::text(&refs).chunk_delay(PIECE_DELAY));
    }
    let (child, addr) = start_serve(&data);
    let pid = child.id();
    let (cookie, csrf) = session(&addr);
    let tab = Arc::new(Tab {
        addr,
        cookie,
        csrf,
        slow_connects: AtomicUsize::new(0),
    });

    // Sample the server's memory while the answers stream.
    let rss_before = proc_status(pid, "VmRSS");
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let (mut rss, mut threads) = (0, 0);
            while sampling.load(Ordering::Relaxed) {
                rss = rss.max(proc_status(pid, "VmRSS"));
                threads = threads.max(proc_status(pid, "Threads"));
                std::thread::sleep(Duration::from_millis(10));
            }
            (rss, threads)
        })
    };
    let (serve_cpu0, bench_cpu0) = (cpu_secs(&pid.to_string()), cpu_secs("self"));
    let tcp0 = tcp_counters();
    let burst = Instant::now();
    let runs = rt.block_on(async {
        let tasks: Vec<_> = (0..STREAMS)
            .map(|n| {
                let tab = tab.clone();
                tokio::spawn(async move { tab.one(n, burst).await })
            })
            .collect();
        let mut runs = Vec::with_capacity(STREAMS);
        for t in tasks {
            runs.push(t.await.unwrap());
        }
        runs
    });
    let total_ms = runs.iter().map(|r| r.end_ms).fold(0.0, f64::max);
    let (serve_cpu, bench_cpu) = (
        cpu_secs(&pid.to_string()) - serve_cpu0,
        cpu_secs("self") - bench_cpu0,
    );
    sampling.store(false, Ordering::Relaxed);
    let (peak_rss, threads_max) = sampler.join().unwrap();
    let tcp = tcp_counters().map(|(o, r)| {
        let (o0, r0) = tcp0.unwrap_or_default();
        (o - o0, r - r0)
    });
    let hwm = proc_status(pid, "VmHWM");
    let memory = memory_breakdown(pid);
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = proc_status(pid, "VmRSS");
    stop(child);
    drop(fake);
    StreamFigures {
        runs,
        total_ms,
        peak_rss_mib: peak_rss as f64 / 1024.0,
        hwm_mib: hwm as f64 / 1024.0,
        rss_before_mib: rss_before as f64 / 1024.0,
        rss_after_mib: rss_after as f64 / 1024.0,
        threads_max,
        serve_cpu,
        bench_cpu,
        answer_bytes: pieces.iter().map(String::len).sum(),
        log: log_problems(&data.with_extension("log")),
        slow_connects: tab.slow_connects.load(Ordering::Relaxed),
        tcp,
        memory,
    }
}

fn report_streams(s: &StreamFigures) -> (f64, f64, usize) {
    let done = s.runs.iter().filter(|r| r.done).count();
    let complete = s.runs.iter().filter(|r| r.complete).count();
    let ok: Vec<&StreamRun> = s.runs.iter().filter(|r| r.error.is_none()).collect();
    // Each kind of failure: how many, and between which times of the burst (s).
    let mut errors: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for r in &s.runs {
        if let Some(e) = &r.error {
            let t = r.end_ms / 1e3;
            let (n, first, last) = errors
                .entry(e.chars().take(120).collect())
                .or_insert((0, t, t));
            *n += 1;
            *first = first.min(t);
            *last = last.max(t);
        }
    }
    let ideal = PIECES as f64 * PIECE_DELAY.as_secs_f64() * 1e3;
    println!(
        "\n{STREAMS} answers at once, {PIECES} pieces of {} B in all, {} ms apart (≥ {ideal:.0} ms each):",
        s.answer_bytes,
        PIECE_DELAY.as_millis()
    );
    println!(
        "  ended with done {done}/{STREAMS}, whole answer in done {complete}/{STREAMS}, time to all done {:.0} ms",
        s.total_ms
    );
    for (e, (n, first, last)) in &errors {
        println!("  {n} × {e} (at {first:.1}–{last:.1} s)");
    }
    let mut max_gap = 0.0;
    let mut p99_gap = 0.0;
    if !ok.is_empty() {
        let post = sorted(ok.iter().map(|r| r.post_ms).collect());
        let first = sorted(ok.iter().map(|r| r.first_ms).collect());
        let per_stream_max = sorted(
            ok.iter()
                .map(|r| r.gaps.iter().copied().fold(0.0, f64::max))
                .collect(),
        );
        let all_gaps = sorted(ok.iter().flat_map(|r| r.gaps.iter().copied()).collect());
        let events: Vec<f64> = sorted(ok.iter().map(|r| r.gaps.len() as f64 + 1.0).collect());
        let ends = sorted(ok.iter().map(|r| r.end_ms).collect());
        max_gap = per_stream_max[per_stream_max.len() - 1];
        p99_gap = pick(&per_stream_max, 0.99);
        println!(
            "  POST /api/v1/chat round trip      (ms): {}",
            summary(&post)
        );
        println!(
            "  POST response → first event       (ms): {}",
            summary(&first)
        );
        println!(
            "  longest gap per stream            (ms): {}  p99 {:7.2}",
            summary(&per_stream_max),
            p99_gap
        );
        println!(
            "  every gap between events          (ms): {}  p99 {:7.2}",
            summary(&all_gaps),
            pick(&all_gaps, 0.99)
        );
        println!(
            "  burst start → stream's done       (ms): {}",
            summary(&ends)
        );
        println!(
            "  events per stream                     : {}",
            summary(&events)
        );
    }
    println!(
        "  serve RSS (MiB): before {:.1}, peak sampled {:.1}, VmHWM {:.1}, 0.5 s after {:.1}; threads max {}",
        s.rss_before_mib, s.peak_rss_mib, s.hwm_mib, s.rss_after_mib, s.threads_max
    );
    println!(
        "  CPU during the burst (s): serve {:.2}, bench process (client + fake provider) {:.2}",
        s.serve_cpu, s.bench_cpu
    );
    println!(
        "  serve RSS at the end of the burst (MiB): malloc heap {:.1}, other anonymous (thread stacks) {:.1}, files (binary) {:.1}",
        s.memory.0, s.memory.1, s.memory.2
    );
    if let Some((overflows, retrans)) = s.tcp {
        println!(
            "  connects to serve taking ≥ 1 s {}; machine-wide listen-queue overflows {overflows}, SYN retransmissions {retrans}",
            s.slow_connects
        );
    }
    for (line, n) in &s.log {
        println!("  serve logged {n} × {line}");
    }
    (max_gap, p99_gap, done)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would too. Do nothing when
    // run as a test so the suite stays fast.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("Orchard studio benchmark (binary {BIN})\n");

    let p = long_topics(root.path(), &rt);
    let s = many_streams(root.path(), &rt);
    let (max_gap, p99_gap, done) = report_streams(&s);

    let med = |xs: &[f64]| pick(xs, 0.5);
    let p95 = |xs: &[f64]| pick(xs, 0.95);
    let row = |what: &str, got: String, goal: &str| println!("{what:<46} {got:>22}   {goal}");
    println!();
    row("figure", "measured".into(), "goal");
    for (k, n) in SIZES.into_iter().enumerate() {
        row(
            &format!("GET /t/{{id}}, {n} msgs, median / p95"),
            format!("{:.1} / {:.1} ms", med(&p.page[k]), p95(&p.page[k])),
            "< 50 ms",
        );
        row(
            &format!("GET …/messages, {n} msgs, median / p95"),
            format!("{:.1} / {:.1} ms", med(&p.api[k]), p95(&p.api[k])),
            "< 50 ms",
        );
    }
    // The 10-message topic renders 10 messages, the others a full page of 40: the
    // 10,000 ÷ 40 ratio isolates the length of the topic.
    for (what, xs) in [("page", &p.page), ("API", &p.api)] {
        row(
            &format!("{what} 10,000 ÷ 10 / 10,000 ÷ 40 (median)"),
            format!(
                "{:.2}× / {:.2}×",
                med(&xs[0]) / med(&xs[2]),
                med(&xs[0]) / med(&xs[1])
            ),
            "≈ 1× (as fast as 10)",
        );
    }
    row(
        &format!("{STREAMS} streams: serve peak RSS (VmHWM)"),
        format!("{:.1} MiB", s.hwm_mib),
        "< 150 MB",
    );
    row(
        &format!("{STREAMS} streams: time to all done"),
        format!("{:.0} ms", s.total_ms),
        &format!(
            "≥ {:.0} ms (pieces × delay)",
            PIECES as f64 * PIECE_DELAY.as_secs_f64() * 1e3
        ),
    );
    row(
        &format!("{STREAMS} streams: longest gap, max / p99"),
        format!("{max_gap:.0} / {p99_gap:.0} ms"),
        "no stalls (updates every 120 ms)",
    );
    row(
        &format!("{STREAMS} streams: ended with done"),
        format!("{done}"),
        &format!("{STREAMS}"),
    );
    row(
        "JS + CSS (app.js + app.css, uncompressed)",
        format!(
            "{:.1} KB ({} + {} B)",
            (p.js + p.css) as f64 / 1000.0,
            p.js,
            p.css
        ),
        "< 100 KB",
    );
}
