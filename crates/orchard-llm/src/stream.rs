//! Turning a streamed response into normalized events, for every protocol.
//!
//! The framing (SSE or NDJSON) and the end-of-stream rules are the same everywhere: a
//! body that ends before the protocol's finish is a cut; a network failure after the
//! finish loses nothing; after the protocol's end marker the rest of the body is read
//! so the request ends cleanly. Each protocol only supplies a [`Decoder`] for its frames.

use std::collections::VecDeque;

use futures_util::stream;
use orchard_core::secret::ApiKey;
use orchard_net::{NetErrorKind, Response};

use crate::sse::{SseEvent, SseParser};
use crate::transport::protocol_error;
use crate::{ChatEvent, ChatStream, ProviderError, ProviderErrorKind};

/// Most bytes read after the end marker to finish the response cleanly.
const MAX_TRAILER: usize = 64 * 1024;
/// Largest streamed answer accepted, in wire bytes. Far above any real answer (a
/// 1M-token answer is a few MB of text, ~20 MB framed); it bounds what a hostile or
/// broken server can make Orchard hold.
const MAX_STREAM: usize = 256 * 1024 * 1024;
/// Largest NDJSON line accepted.
const MAX_LINE: usize = crate::sse::MAX_EVENT;

/// How frames are delimited.
pub(crate) enum Framing {
    /// Server-Sent Events.
    Sse,
    /// One JSON object per line.
    Ndjson,
}

/// What a decoder says after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// More frames expected.
    More,
    /// The protocol's end marker arrived (`[DONE]`, `message_stop`, `done: true`, …).
    End,
}

/// Context a decoder needs to describe errors.
pub(crate) struct Ctx {
    pub provider: String,
    pub model: String,
    pub key: Option<ApiKey>,
}

impl Ctx {
    /// A frame that is not the documented format.
    pub fn bad_frame(&self, detail: impl Into<String>) -> ProviderError {
        protocol_error(&self.provider, Some(&self.model), detail.into())
    }

    /// `data` as JSON, or `None` with the error pushed to `out` (which ends the stream).
    pub fn json(&self, data: &str, out: &mut Out) -> Option<serde_json::Value> {
        match serde_json::from_str(data) {
            Ok(v) => Some(v),
            Err(e) => {
                out.push(Err(
                    self.bad_frame(format!("a stream event is not valid JSON ({e})"))
                ));
                None
            }
        }
    }
}

/// One protocol's frame handling.
pub(crate) trait Decoder: Send + 'static {
    /// Handles one frame (`event` is the SSE event name, if any). Pushes events, or an
    /// error that ends the stream.
    fn frame(&mut self, ctx: &Ctx, event: Option<&str>, data: &str, out: &mut Out) -> Flow;

    /// Whether the answer is complete (a finish reason arrived), so that a missing end
    /// marker or a cut connection afterwards loses nothing.
    fn finished(&self) -> bool;

    /// Called once at the end of a complete stream, for events held back until then
    /// (such as closing an open tool call).
    fn close(&mut self, _out: &mut Out) {}
}

/// Events produced by a decoder.
pub(crate) type Out = Vec<Result<ChatEvent, ProviderError>>;

/// A tool call that arrives in one piece (whole answers; Gemini and Ollama streams):
/// its start, all of its arguments as JSON text, and its end. Without an id, one is
/// made from its index. Arguments may be an object or, as OpenAI sends them, JSON text
/// in a string.
pub(crate) fn whole_call(
    mut emit: impl FnMut(ChatEvent),
    index: usize,
    id: Option<&str>,
    name: &str,
    args: Option<&serde_json::Value>,
) {
    emit(ChatEvent::ToolCallStart {
        index,
        id: id.map_or_else(|| format!("call_{index}"), str::to_owned),
        name: name.to_owned(),
    });
    let delta = match args {
        None | Some(serde_json::Value::Null) => "{}".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(v) => v.to_string(),
    };
    emit(ChatEvent::ToolCallArgs { index, delta });
    emit(ChatEvent::ToolCallEnd { index });
}

/// NDJSON framing: lines end in `\n` (a `\r` before it is dropped); reads may split
/// lines anywhere.
#[derive(Default)]
struct NdjsonParser {
    line: Vec<u8>,
}

impl NdjsonParser {
    fn feed(
        &mut self,
        mut bytes: &[u8],
        out: &mut Vec<SseEvent>,
    ) -> Result<(), crate::sse::EventTooLarge> {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&bytes[..pos]);
            self.emit(out);
            bytes = &bytes[pos + 1..];
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() > MAX_LINE {
            return Err(crate::sse::EventTooLarge);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) {
        self.emit(out);
    }

    fn emit(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if !text.is_empty() {
            out.push(SseEvent {
                event: None,
                data: text.to_owned(),
            });
        }
    }
}

enum Frames {
    Sse(SseParser),
    Ndjson(NdjsonParser),
}

impl Frames {
    fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<SseEvent>,
    ) -> Result<(), crate::sse::EventTooLarge> {
        match self {
            Frames::Sse(p) => p.feed(bytes, out),
            Frames::Ndjson(p) => p.feed(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) {
        match self {
            Frames::Sse(p) => p.finish(out),
            Frames::Ndjson(p) => p.finish(out),
        }
    }
}

/// Bytes in, events out: framing, the protocol's decoder and the end-of-stream rules,
/// without any I/O (the live stream feeds it from the network; the benchmark from memory).
pub(crate) struct Pipeline<D> {
    frames: Frames,
    decoder: D,
    ctx: Ctx,
    queue: VecDeque<Result<ChatEvent, ProviderError>>,
    scratch: Vec<SseEvent>,
    out: Out,
    ended: bool,
    saw_end_marker: bool,
    received: usize,
    limit: usize,
}

impl<D: Decoder> Pipeline<D> {
    pub fn new(framing: Framing, decoder: D, ctx: Ctx) -> Self {
        let frames = match framing {
            Framing::Sse => Frames::Sse(SseParser::new()),
            Framing::Ndjson => Frames::Ndjson(NdjsonParser::default()),
        };
        Self {
            frames,
            decoder,
            ctx,
            queue: VecDeque::new(),
            scratch: Vec::new(),
            out: Vec::new(),
            ended: false,
            saw_end_marker: false,
            received: 0,
            limit: MAX_STREAM,
        }
    }

    /// The next event decoded so far.
    pub fn pop(&mut self) -> Option<Result<ChatEvent, ProviderError>> {
        self.queue.pop_front()
    }

    /// Whether the stream is over (ended, failed, or past its end marker).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Feeds a piece of the body.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.received = self.received.saturating_add(bytes.len());
        if self.received > self.limit && !self.saw_end_marker {
            let e = self.ctx.bad_frame(format!(
                "the answer is larger than {} MB; stopped reading it",
                self.limit / (1024 * 1024)
            ));
            self.fail(e);
            return;
        }
        let mut frames = std::mem::take(&mut self.scratch);
        let too_large = self.frames.feed(bytes, &mut frames).err();
        for f in frames.drain(..) {
            self.handle(&f);
        }
        self.scratch = frames;
        if let Some(e) = too_large {
            let e = self.ctx.bad_frame(e.to_string());
            self.fail(e);
        }
    }

    /// The body ended cleanly at the HTTP level.
    pub fn eof(&mut self) {
        let mut frames = Vec::new();
        self.frames.finish(&mut frames);
        for f in &frames {
            self.handle(f);
        }
        if !self.ended {
            if self.decoder.finished() {
                self.close();
            } else {
                // The answer never finished: a server that dropped the stream.
                let e = ProviderError {
                    model: Some(self.ctx.model.clone()),
                    ..ProviderError::new(ProviderErrorKind::StreamCut, &self.ctx.provider)
                };
                self.fail(e);
            }
        }
    }

    /// Reading the body failed.
    pub fn net_error(&mut self, net: orchard_net::NetError) {
        if self.decoder.finished() && net.kind == NetErrorKind::Cut {
            // A cut after the finish loses nothing of the answer.
            self.close();
        } else {
            let e = ProviderError {
                model: Some(self.ctx.model.clone()),
                ..ProviderError::from_net(&self.ctx.provider, net)
            };
            self.fail(e);
        }
    }

    fn handle(&mut self, frame: &SseEvent) {
        if self.ended {
            return;
        }
        let flow = self.decoder.frame(
            &self.ctx,
            frame.event.as_deref(),
            frame.data.trim(),
            &mut self.out,
        );
        let mut failed = false;
        for item in self.out.drain(..) {
            failed |= item.is_err();
            self.queue.push_back(item);
        }
        if failed {
            self.ended = true;
        } else if flow == Flow::End {
            self.saw_end_marker = true;
            self.close();
        }
    }

    fn close(&mut self) {
        self.decoder.close(&mut self.out);
        self.queue.extend(self.out.drain(..));
        self.ended = true;
    }

    fn fail(&mut self, e: ProviderError) {
        self.queue.push_back(Err(e));
        self.ended = true;
    }
}

struct State<D> {
    resp: Response,
    pipeline: Pipeline<D>,
}

/// The events of a whole (non-streamed) answer: its body as one frame, so that a whole
/// answer and a stream give the same events. An answer without a finish is a cut.
pub(crate) fn whole<D: Decoder>(mut decoder: D, ctx: &Ctx, body: &[u8]) -> ChatStream {
    let mut out = Vec::new();
    decoder.frame(ctx, None, String::from_utf8_lossy(body).trim(), &mut out);
    if !decoder.finished() && !out.iter().any(Result::is_err) {
        out.push(Err(ProviderError {
            model: Some(ctx.model.clone()),
            ..ProviderError::new(ProviderErrorKind::StreamCut, &ctx.provider)
        }));
    }
    decoder.close(&mut out);
    Box::pin(stream::iter(out))
}

/// The events of a streamed response.
pub(crate) fn events<D: Decoder>(
    resp: Response,
    framing: Framing,
    decoder: D,
    ctx: Ctx,
) -> ChatStream {
    let state = State {
        resp,
        pipeline: Pipeline::new(framing, decoder, ctx),
    };
    Box::pin(stream::unfold(state, State::next))
}

impl<D: Decoder> State<D> {
    async fn next(mut self) -> Option<(Result<ChatEvent, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.pipeline.pop() {
                return Some((item, self));
            }
            if self.pipeline.ended() {
                if self.pipeline.saw_end_marker {
                    self.drain().await;
                }
                return None;
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => self.pipeline.feed(&bytes),
                Ok(None) => self.pipeline.eof(),
                Err(net) => self.pipeline.net_error(net),
            }
        }
    }

    /// After the end marker, reads the (normally empty) rest of the body so the
    /// response ends cleanly: the connection can be reused and the ledger records the
    /// request as `ok`.
    async fn drain(&mut self) {
        let mut read = 0;
        while let Ok(Some(bytes)) = self.resp.chunk().await {
            read += bytes.len();
            if read > MAX_TRAILER {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of text deltas; every one yields a text event.
    struct Echo;
    impl Decoder for Echo {
        fn frame(&mut self, _: &Ctx, _: Option<&str>, data: &str, out: &mut Out) -> Flow {
            out.push(Ok(ChatEvent::TextDelta(data.to_owned())));
            Flow::More
        }
        fn finished(&self) -> bool {
            false
        }
    }

    #[test]
    fn an_endless_answer_is_stopped_at_the_limit_keeping_what_came() {
        let ctx = Ctx {
            provider: "fake".into(),
            model: "m".into(),
            key: None,
        };
        let mut p = Pipeline::new(Framing::Ndjson, Echo, ctx);
        p.limit = 2 * 1024 * 1024;
        let line = format!("{}\n", "x".repeat(1023));
        let mut texts = 0;
        let mut error = None;
        for _ in 0..4096 {
            p.feed(line.as_bytes());
            while let Some(e) = p.pop() {
                match e {
                    Ok(_) => texts += 1,
                    Err(e) => error = Some(e),
                }
            }
            if p.ended() {
                break;
            }
        }
        assert_eq!(texts, 2048, "everything up to the limit is delivered");
        let e = error.expect("the stream ends with an error");
        assert_eq!(e.kind, ProviderErrorKind::Protocol);
        assert!(e.to_string().contains("larger than 2 MB"), "{e}");
    }

    #[test]
    fn ndjson_lines_split_anywhere() {
        let body = b"{\"a\":1}\r\n{\"b\":2}\n\n{\"c\":3}";
        for piece in 1..body.len() {
            let mut p = NdjsonParser::default();
            let mut out = Vec::new();
            for chunk in body.chunks(piece) {
                p.feed(chunk, &mut out).unwrap();
            }
            p.finish(&mut out);
            let data: Vec<&str> = out.iter().map(|e| e.data.as_str()).collect();
            assert_eq!(
                data,
                ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"],
                "piece {piece}"
            );
        }
    }
}
