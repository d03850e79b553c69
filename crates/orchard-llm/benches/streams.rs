//! Stream-parsing figures for every protocol (run by hand):
//!
//! ```text
//! cargo bench -p orchard-llm --bench streams
//! ```
//!
//! 1. Throughput: wire bytes decoded into normalized events per second, from memory,
//!    in 16 KiB reads and in 512-byte reads (events split across reads). Goal ≥ 100 MB/s.
//! 2. Latency per chunk, from the socket to the normalized event: a loopback server on
//!    its own thread writes one event; the client (the real adapter over the real HTTP
//!    client) receives it as an event and asks for the next. Measured from the moment
//!    the server's write returned (the bytes are in the client's socket) to the event.
//!    p50/p99; goal p99 < 100 µs. The same bytes read off a plain socket are printed
//!    beside it: the part any reader pays to wake up and read.
//!
//! Figures are printed, not asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use orchard_core::base_url::resolve_for;
use orchard_core::egress::{BoxFuture, EgressEntry, EgressError, EgressSink, EgressTicket};
use orchard_core::message::Role;
use orchard_core::provider::{Protocol, Quirks};
use orchard_llm::{ChatEvent, ChatMessage, ChatRequest, ProviderEndpoint};
use orchard_net::{HttpClient, NetConfig};
use std::io::{Read, Write};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKENS: usize = 20_000;
const PROTOCOLS: [Protocol; 5] = [
    Protocol::OpenAi,
    Protocol::OpenAiResponses,
    Protocol::Anthropic,
    Protocol::Gemini,
    Protocol::Ollama,
];

/// A streamed answer of `n` text deltas in `p`'s wire format: (head, deltas, tail).
fn wire(p: Protocol, n: usize) -> (String, Vec<String>, String) {
    let token = |i: usize| format!("tok{i} ");
    match p {
        Protocol::OpenAi | Protocol::Azure => (
            r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#.to_owned() + "\n\n",
            (0..n).map(|i| format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n", token(i))).collect(),
            r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#.to_owned() + "\n\ndata: [DONE]\n\n",
        ),
        Protocol::OpenAiResponses => (
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}\n\n".to_owned(),
            (0..n).map(|i| format!("event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"{}\",\"sequence_number\":{}}}\n\n", token(i), i + 1)).collect(),
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":999999,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":9}}}\n\n".to_owned(),
        ),
        Protocol::Anthropic => (
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_owned(),
            (0..n).map(|i| format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{}\"}}}}\n\n", token(i))).collect(),
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned(),
        ),
        Protocol::Gemini => (
            String::new(),
            (0..n).map(|i| format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{}\"}}],\"role\":\"model\"}},\"index\":0}}],\"modelVersion\":\"m\"}}\r\n\r\n", token(i))).collect(),
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":9,\"totalTokenCount\":14},\"modelVersion\":\"m\"}\r\n\r\n".to_owned(),
        ),
        Protocol::Ollama => (
            String::new(),
            (0..n).map(|i| format!("{{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"{}\"}},\"done\":false}}\n", token(i))).collect(),
            "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":9}\n".to_owned(),
        ),
    }
}

fn throughput(p: Protocol, read_size: usize) -> f64 {
    let (head, deltas, tail) = wire(p, TOKENS);
    let body = format!("{head}{}{tail}", deltas.concat()).into_bytes();
    // Warm up, and check the decoder really saw every delta.
    let events = orchard_llm::bench::decode(p, &body, read_size).expect("decodes");
    let texts = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::TextDelta(t) if !t.is_empty()))
        .count();
    assert_eq!(texts, TOKENS, "{p}: {texts} text events");
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(orchard_llm::bench::decode(p, &body, read_size).expect("decodes"));
    }
    (body.len() * rounds) as f64 / start.elapsed().as_secs_f64() / 1e6
}

struct NoLedger;
impl EgressSink for NoLedger {
    fn begin<'a>(&'a self, _: &'a EgressEntry) -> BoxFuture<'a, Result<EgressTicket, EgressError>> {
        Box::pin(async { Ok(EgressTicket(0)) })
    }
    fn finish(&self, _: EgressTicket, _: EgressEntry) {}
}

/// Serves one streamed answer on its own thread (as a remote server would be), writing
/// each delta only after the client acknowledged the previous one, and records when each
/// write returned: from then on the bytes are in the client's socket.
fn serve_one(
    listener: std::net::TcpListener,
    p: Protocol,
    n: usize,
    acks: std::sync::mpsc::Receiver<()>,
) -> std::thread::JoinHandle<Vec<Instant>> {
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut req = Vec::new();
        // Read the request head and its body (by Content-Length).
        loop {
            let k = sock.read(&mut buf).unwrap();
            req.extend_from_slice(&buf[..k]);
            if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while req.len() < end + 4 + len {
                    let k = sock.read(&mut buf).unwrap();
                    req.extend_from_slice(&buf[..k]);
                }
                break;
            }
        }
        let (head, deltas, tail) = wire(p, n);
        sock.write_all(response_head(p).as_bytes()).unwrap();
        if !head.is_empty() {
            sock.write_all(chunk(&head).as_bytes()).unwrap();
        }
        let mut written = Vec::with_capacity(n);
        for d in &deltas {
            sock.write_all(chunk(d).as_bytes()).unwrap();
            written.push(Instant::now());
            if acks.recv().is_err() {
                return written;
            }
        }
        sock.write_all(chunk(&tail).as_bytes()).unwrap();
        sock.write_all(b"0\r\n\r\n").unwrap();
        written
    })
}

fn response_head(p: Protocol) -> String {
    let ct = if p == Protocol::Ollama {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    };
    format!("HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ntransfer-encoding: chunked\r\n\r\n")
}

fn chunk(s: &str) -> String {
    format!("{:x}\r\n{s}\r\n", s.len())
}

fn percentiles(written: &[Instant], got: &[Instant]) -> (Duration, Duration) {
    let mut lat: Vec<Duration> = got
        .iter()
        .zip(written)
        .map(|(g, w)| g.saturating_duration_since(*w))
        .collect();
    lat.sort();
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

const CHUNKS: usize = 2_000;

/// Through Orchard: the real adapter over the real HTTP client, until the text event.
async fn through_orchard(p: Protocol) -> (Duration, Duration) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    let server = serve_one(listener, p, CHUNKS, ack_rx);
    let http = HttpClient::new(NetConfig::default(), Arc::new(NoLedger)).unwrap();
    let provider = orchard_llm::connect(
        ProviderEndpoint {
            name: "bench".into(),
            protocol: p,
            base_url: resolve_for(p, &format!("http://{addr}")).unwrap(),
            key: None,
            quirks: Quirks::default(),
        },
        http,
    );
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![ChatMessage::text(Role::User, "hi")],
        stream: true,
        ..ChatRequest::default()
    };
    let mut stream = provider.chat(&req).await.unwrap();
    let mut got = Vec::with_capacity(CHUNKS);
    while let Some(ev) = stream.next().await {
        if let ChatEvent::TextDelta(t) = ev.unwrap() {
            if t.is_empty() {
                continue;
            }
            got.push(Instant::now());
            let _ = ack_tx.send(());
        }
    }
    percentiles(&server.join().unwrap(), &got)
}

/// The floor: the same bytes read off a plain socket with no HTTP or parsing at all
/// (waking up and reading is a cost every client pays).
async fn plain_socket(p: Protocol) -> (Duration, Duration) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    let server = serve_one(listener, p, CHUNKS, ack_rx);
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let (head, deltas, _) = wire(p, CHUNKS);
    let mut expect = response_head(p).len()
        + if head.is_empty() {
            0
        } else {
            chunk(&head).len()
        };
    let mut buf = vec![0u8; 65536];
    let mut have = 0;
    let mut got = Vec::with_capacity(CHUNKS);
    for d in &deltas {
        expect += chunk(d).len();
        while have < expect {
            have += sock.read(&mut buf).await.unwrap();
        }
        got.push(Instant::now());
        let _ = ack_tx.send(());
    }
    drop(ack_tx);
    percentiles(&server.join().unwrap(), &got)
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    println!("Stream parsing, {TOKENS} text deltas per answer\n");
    println!(
        "{:<18} {:>16} {:>16}",
        "protocol", "16 KiB reads", "512 B reads"
    );
    for p in PROTOCOLS {
        println!(
            "{:<18} {:>11.0} MB/s {:>11.0} MB/s",
            p.as_str(),
            throughput(p, 16 * 1024),
            throughput(p, 512)
        );
    }
    // The client runs as the CLI does, on a multi-threaded runtime; the server is a
    // separate thread, like a remote peer.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "\nLatency per chunk, from the bytes reaching the socket to the normalized event\n(loopback, {CHUNKS} chunks; \"plain socket\" reads the same bytes with no HTTP or parsing)\n"
    );
    println!(
        "{:<18} {:>10} {:>10} {:>16} {:>16}",
        "protocol", "p50", "p99", "plain p50", "plain p99"
    );
    // Warm up (threads, allocator, CPU clock) so the first protocol is not penalised.
    for p in PROTOCOLS {
        rt.block_on(through_orchard(p));
        rt.block_on(plain_socket(p));
    }
    for p in PROTOCOLS {
        let (p50, p99) = rt.block_on(through_orchard(p));
        let (b50, b99) = rt.block_on(plain_socket(p));
        println!(
            "{:<18} {:>7} µs {:>7} µs {:>13} µs {:>13} µs",
            p.as_str(),
            p50.as_micros(),
            p99.as_micros(),
            b50.as_micros(),
            b99.as_micros()
        );
    }
}
