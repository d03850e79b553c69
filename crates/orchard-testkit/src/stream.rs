//! What every protocol shares: the scripted answer normalized into a plan,
//! and a writer that sends a protocol's events (SSE, NDJSON or a streamed
//! JSON array) with the answer's line endings, keep-alives, delays,
//! splitting and ending (cut, hang, error event, missing final event).

use std::io;

use crate::json::{self, J};
use crate::proto::Protocol;
use crate::provider::{Conn, Next, Shared, delay};
use crate::reply::{Answer, StreamEnd, StreamShape};

/// Size, in characters, of the pieces tool-call arguments are streamed in.
const ARGUMENT_PIECE: usize = 8;

/// The normalized finish reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    ToolCalls,
    Safety,
    /// Any other word, sent as given.
    Other(String),
}

/// One tool call, ready for every wire.
#[derive(Debug, Clone)]
pub(crate) struct ToolPlan {
    pub name: String,
    /// Arguments as minified JSON text (as given if not JSON).
    pub arguments: String,
    /// Arguments as an embeddable JSON object.
    pub object: J,
    /// `arguments` in small pieces.
    pub fragments: Vec<String>,
}

/// A scripted answer, normalized.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub reasoning: Vec<&'a str>,
    pub content: Vec<&'a str>,
    pub tools: Vec<ToolPlan>,
    pub finish: Finish,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub reasoning_tokens: u32,
    /// Anthropic thinking signature.
    pub signature: String,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(ARGUMENT_PIECE)
        .map(|c| c.iter().collect())
        .collect()
}

impl<'a> Plan<'a> {
    /// `answer` for a request with `body`. A blocked answer has no pieces
    /// and finishes for safety (Gemini renders `blocked` itself).
    pub fn new(answer: &'a Answer, body: &[u8]) -> Plan<'a> {
        let blocked = answer.blocked.is_some();
        let pick = |v: &'a [String]| -> Vec<&'a str> {
            if blocked {
                Vec::new()
            } else {
                v.iter().map(String::as_str).collect()
            }
        };
        let reasoning = pick(&answer.reasoning);
        let content = pick(&answer.content);
        let tools: Vec<ToolPlan> = if blocked {
            Vec::new()
        } else {
            answer
                .tool_calls
                .iter()
                .map(|t| {
                    let arguments =
                        json::minify(&t.arguments).unwrap_or_else(|| t.arguments.clone());
                    ToolPlan {
                        name: t.name.clone(),
                        object: json::object_or_empty(&t.arguments),
                        fragments: fragments(&arguments),
                        arguments,
                    }
                })
                .collect()
        };
        let finish = if blocked {
            Finish::Safety
        } else {
            match answer.finish_reason.as_str() {
                "stop" if !tools.is_empty() => Finish::ToolCalls,
                "stop" => Finish::Stop,
                "length" => Finish::Length,
                "tool_calls" => Finish::ToolCalls,
                "safety" | "content_filter" => Finish::Safety,
                other => Finish::Other(other.to_owned()),
            }
        };
        let (prompt_tokens, completion_tokens) = answer.usage.unwrap_or_else(|| {
            let chars = String::from_utf8_lossy(body).chars().count() / 4;
            (
                count(chars),
                count(reasoning.len() + content.len() + tools.len()),
            )
        });
        Plan {
            reasoning_tokens: count(reasoning.len()).min(completion_tokens),
            signature: answer
                .signature
                .clone()
                .unwrap_or_else(|| "sig-fake".to_owned()),
            reasoning,
            content,
            tools,
            finish,
            prompt_tokens,
            completion_tokens,
        }
    }

    pub fn reasoning_text(&self) -> String {
        self.reasoning.concat()
    }

    pub fn content_text(&self) -> String {
        self.content.concat()
    }
}

/// How events are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `event: NAME` (if named) and `data: JSON` lines, blank line after.
    Sse,
    /// One JSON object per line.
    Ndjson,
    /// A JSON array streamed element by element (Gemini without `alt=sse`).
    JsonArray,
}

/// What keeps the stream alive when the answer asks for keep-alives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keepalive {
    /// `: keep-alive` SSE comment before every event.
    Comment,
    /// Anthropic `ping` event between events.
    Ping,
    /// None (NDJSON, JSON arrays).
    Nothing,
}

/// One event of a stream.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    /// SSE event name.
    pub name: Option<&'static str>,
    /// The payload (usually JSON).
    pub data: String,
    /// Scripted pieces this event completes.
    pub weight: usize,
    /// Part of the protocol's ending (finish, usage, final events).
    pub closing: bool,
    /// The final event(s) `NoDone` leaves out.
    pub terminal: bool,
}

impl Ev {
    /// An opening or structural event.
    pub fn open(name: Option<&'static str>, data: String) -> Ev {
        Ev {
            name,
            data,
            weight: 0,
            closing: false,
            terminal: false,
        }
    }

    /// An event completing `weight` pieces.
    pub fn piece(name: Option<&'static str>, data: String, weight: usize) -> Ev {
        Ev {
            weight,
            ..Ev::open(name, data)
        }
    }

    /// A finishing event that `NoDone` still sends.
    pub fn closing(name: Option<&'static str>, data: String) -> Ev {
        Ev {
            closing: true,
            ..Ev::open(name, data)
        }
    }

    /// The final event, left out by `NoDone`.
    pub fn terminal(name: Option<&'static str>, data: String) -> Ev {
        Ev {
            closing: true,
            terminal: true,
            ..Ev::open(name, data)
        }
    }
}

/// Index of the event before which a cut, hang or error event happens:
/// after `after` pieces, or (for 0 pieces) before the first piece event or,
/// with no pieces at all, the first finishing event.
pub(crate) fn stop_index(events: &[Ev], end: &StreamEnd) -> Option<usize> {
    let after = match end {
        StreamEnd::Cut { after }
        | StreamEnd::Hang { after }
        | StreamEnd::ErrorEvent { after, .. } => *after,
        StreamEnd::Done | StreamEnd::NoDone => return None,
    };
    let total: usize = events.iter().map(|e| e.weight).sum();
    let k = after.min(total);
    if k == 0 {
        return Some(
            events
                .iter()
                .position(|e| e.weight > 0 || e.closing)
                .unwrap_or(events.len()),
        );
    }
    let mut done = 0;
    for (i, e) in events.iter().enumerate() {
        done += e.weight;
        if done >= k {
            return Some(i + 1);
        }
    }
    Some(events.len())
}

/// A stream ready to write.
pub(crate) struct StreamOut {
    pub proto: Protocol,
    pub framing: Framing,
    pub keepalive: Keepalive,
    pub events: Vec<Ev>,
    /// The in-stream error event, for `StreamEnd::ErrorEvent`.
    pub error_event: Option<Ev>,
    pub stop: Option<usize>,
}

impl StreamOut {
    /// `events` for `end`; `error` builds the in-stream error event from
    /// its position (index of the event it replaces) and message.
    pub fn new(
        proto: Protocol,
        framing: Framing,
        keepalive: Keepalive,
        events: Vec<Ev>,
        end: &StreamEnd,
        error: impl FnOnce(usize, &str) -> Ev,
    ) -> StreamOut {
        let stop = stop_index(&events, end);
        let error_event = match end {
            StreamEnd::ErrorEvent { message, .. } => Some(error(stop.unwrap_or(0), message)),
            _ => None,
        };
        StreamOut {
            proto,
            framing,
            keepalive,
            events,
            error_event,
            stop,
        }
    }
}

struct Writer<'a> {
    conn: &'a mut Conn,
    shape: &'a StreamShape,
    framing: Framing,
    keepalive: Keepalive,
    first: bool,
}

impl Writer<'_> {
    fn nl(&self) -> &'static str {
        if self.shape.crlf { "\r\n" } else { "\n" }
    }

    async fn unit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn
            .send_pieces(bytes, self.shape.split_every, true)
            .await
    }

    async fn event(&mut self, ev: &Ev) -> io::Result<()> {
        let first = self.first;
        if !first {
            delay(self.shape.chunk_delay_ms).await;
        }
        self.first = false;
        let nl = self.nl();
        if self.shape.keepalive_comments {
            match self.keepalive {
                Keepalive::Comment => {
                    self.unit(format!(": keep-alive{nl}{nl}").as_bytes())
                        .await?;
                }
                // Anthropic's pings carry a space after the colon.
                Keepalive::Ping if !first => {
                    self.unit(
                        format!("event: ping{nl}data: {{\"type\": \"ping\"}}{nl}{nl}").as_bytes(),
                    )
                    .await?;
                }
                Keepalive::Ping | Keepalive::Nothing => {}
            }
        }
        let text = match self.framing {
            Framing::Sse => match ev.name {
                Some(name) => format!("event: {name}{nl}data: {}{nl}{nl}", ev.data),
                None => format!("data: {}{nl}{nl}", ev.data),
            },
            Framing::Ndjson => format!("{}{nl}", ev.data),
            Framing::JsonArray if first => format!("[{}", ev.data),
            Framing::JsonArray => format!(",\r\n{}", ev.data),
        };
        self.unit(text.as_bytes()).await
    }

    /// Closes the body properly (JSON array bracket, terminating chunk).
    async fn terminate(&mut self) -> io::Result<()> {
        if self.framing == Framing::JsonArray {
            let close: &[u8] = if self.first { b"[]" } else { b"]" };
            self.unit(close).await?;
        }
        self.conn.send(b"0\r\n\r\n").await
    }
}

/// Sends a streamed answer: head, events, ending. Counts the stream as
/// ended (for `wait_stream_closed`) once it is over.
pub(crate) async fn write_stream(
    conn: &mut Conn,
    shared: &Shared,
    shape: &StreamShape,
    out: StreamOut,
) -> Next {
    let next = match write_all(conn, shared, shape, out).await {
        Ok(next) => next,
        Err(_) => Next::Close,
    };
    if next == Next::Close {
        // Make the end visible to the client before counting it.
        conn.shutdown().await;
    }
    shared.stream_ended();
    next
}

async fn write_all(
    conn: &mut Conn,
    shared: &Shared,
    shape: &StreamShape,
    out: StreamOut,
) -> io::Result<Next> {
    delay(shape.first_byte_delay_ms).await;
    let mut headers = vec![
        (
            "content-type".to_owned(),
            out.proto.stream_type().to_owned(),
        ),
        ("transfer-encoding".to_owned(), "chunked".to_owned()),
    ];
    headers.extend(conn.base_headers(out.proto));
    conn.send_head(200, &headers).await?;
    let mut w = Writer {
        conn,
        shape,
        framing: out.framing,
        keepalive: out.keepalive,
        first: true,
    };
    let end = &shape.end;
    for i in 0..=out.events.len() {
        if out.stop == Some(i) {
            match end {
                StreamEnd::Cut { .. } => return Ok(Next::Close),
                StreamEnd::ErrorEvent { .. } => {
                    if let Some(ev) = &out.error_event {
                        w.event(ev).await?;
                    }
                    w.terminate().await?;
                    return Ok(w.conn.next());
                }
                StreamEnd::Hang { .. } => {
                    if !w.conn.hang(shared).await {
                        return Ok(Next::Close);
                    }
                }
                StreamEnd::Done | StreamEnd::NoDone => {}
            }
        }
        let Some(ev) = out.events.get(i) else { break };
        if ev.terminal && *end == StreamEnd::NoDone {
            continue;
        }
        w.event(ev).await?;
    }
    w.terminate().await?;
    if *end == StreamEnd::NoDone {
        return Ok(Next::Close);
    }
    Ok(w.conn.next())
}

/// Sends a non-streamed answer: honours the first-byte delay, a cut (close
/// without response) or hang (wait for release) and `split_every`.
pub(crate) async fn json_reply(
    conn: &mut Conn,
    shared: &Shared,
    proto: Protocol,
    shape: &StreamShape,
    body: &str,
) -> Next {
    delay(shape.first_byte_delay_ms).await;
    match shape.end {
        StreamEnd::Cut { .. } => return Next::Close,
        StreamEnd::Hang { .. } if !conn.hang(shared).await => return Next::Close,
        _ => {}
    }
    conn.respond(
        proto,
        200,
        proto.json_type(),
        &[],
        body.as_bytes(),
        shape.split_every,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evs() -> Vec<Ev> {
        vec![
            Ev::open(None, "start".into()),
            Ev::piece(None, "a".into(), 1),
            Ev::open(None, "mid".into()),
            Ev::piece(None, "b".into(), 2),
            Ev::closing(None, "finish".into()),
            Ev::terminal(None, "done".into()),
        ]
    }

    #[test]
    fn stop_points() {
        let at = |after| stop_index(&evs(), &StreamEnd::Cut { after });
        assert_eq!(at(0), Some(1));
        assert_eq!(at(1), Some(2));
        assert_eq!(at(2), Some(4));
        assert_eq!(at(3), Some(4));
        assert_eq!(at(99), Some(4));
        let none = vec![Ev::open(None, "s".into()), Ev::terminal(None, "d".into())];
        assert_eq!(stop_index(&none, &StreamEnd::Hang { after: 3 }), Some(1));
        assert_eq!(stop_index(&none, &StreamEnd::Done), None);
    }

    #[test]
    fn plan_normalizes() {
        let a = Answer::text(&["x"]).tool_call("f", "{ \"a\" : 1 }");
        let p = Plan::new(&a, b"12345678");
        assert_eq!(p.finish, Finish::ToolCalls);
        assert_eq!(p.tools[0].arguments, "{\"a\":1}");
        assert_eq!(p.tools[0].fragments, vec!["{\"a\":1}"]);
        assert_eq!((p.prompt_tokens, p.completion_tokens), (2, 2));
        let blocked = Answer::text(&["x"]).blocked("SAFETY");
        let p = Plan::new(&blocked, b"");
        assert!(p.content.is_empty());
        assert_eq!(p.finish, Finish::Safety);
        assert_eq!(fragments("abcdefghij"), vec!["abcdefgh", "ij"]);
    }
}
