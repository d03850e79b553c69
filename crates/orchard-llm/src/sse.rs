//! A Server-Sent Events parser that follows the WHATWG event-stream rules: lines end in
//! CR, LF or CRLF (even when a CR and its LF arrive in different reads); `data:` lines
//! accumulate; a blank line dispatches; lines starting with `:` are comments (keep-alives);
//! a leading UTF-8 BOM is ignored. Input may be split anywhere, including inside a UTF-8
//! character, because complete lines are decoded only once whole.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An event or line beyond [`MAX_EVENT`]: a broken or hostile server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stream event is larger than {MAX_EVENT} bytes")]
pub struct EventTooLarge;

/// Largest line or event accepted (a streamed delta is normally well under a kilobyte).
pub const MAX_EVENT: usize = 16 * 1024 * 1024;

/// Incremental parser. Feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    after_cr: bool,
    started: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `bytes`, appending every completed event to `out`. Fails when a line or an
    /// event grows beyond [`MAX_EVENT`], so a server that never ends a line cannot
    /// exhaust memory.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        self.feed_unbounded(bytes, out);
        if self.line.len() > MAX_EVENT || self.data.len() > MAX_EVENT {
            return Err(EventTooLarge);
        }
        Ok(())
    }

    fn feed_unbounded(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started {
            // The BOM check needs the first three bytes, which may arrive separately.
            self.line.extend_from_slice(bytes);
            if self.line.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.line) {
                return;
            }
            self.started = true;
            let pending = std::mem::take(&mut self.line);
            let pending = pending.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&pending);
            self.feed_lines(pending, out);
            return;
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        self.feed_lines(bytes, out);
    }

    fn feed_lines(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..pos]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            let was_cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if was_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(bytes);
    }

    /// At the end of the stream: an event whose data lines were complete but that was
    /// never followed by a blank line is dispatched (servers that close without the final
    /// blank line are common); a partial line is dropped, as the standard says.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        self.line.clear();
        self.dispatch(out);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            p.feed(chunk, &mut out).unwrap();
        }
        p.finish(&mut out);
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn every_line_ending_and_every_split_gives_the_same_events() {
        let body = "data: {\"a\":\"héllo 你好\"}\n\n: keep-alive\n\ndata: two\ndata: lines\n\nevent: error\ndata: x\n\ndata: [DONE]\n\n";
        let expected = vec!["{\"a\":\"héllo 你好\"}", "two\nlines", "x", "[DONE]"];
        for ending in ["\n", "\r\n", "\r"] {
            let input = body.replace('\n', ending);
            for piece in 1..=input.len() {
                let events = parse_in_pieces(input.as_bytes(), piece);
                assert_eq!(data(&events), expected, "ending {ending:?}, piece {piece}");
                assert_eq!(events[2].event.as_deref(), Some("error"));
                assert_eq!(events[0].event, None);
            }
        }
    }

    #[test]
    fn cr_at_the_end_of_one_read_and_lf_at_the_start_of_the_next_is_one_line_end() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: a\r", &mut out).unwrap();
        p.feed(b"\n\r", &mut out).unwrap();
        p.feed(b"\ndata: b\r\n\r\n", &mut out).unwrap();
        assert_eq!(data(&out), ["a", "b"]);
    }

    #[test]
    fn bom_comments_and_fields_without_space() {
        let events = parse_in_pieces(
            "\u{feff}:hello\ndata:no-space\n\nid: 1\nretry: 5\ndata\n\n".as_bytes(),
            2,
        );
        assert_eq!(data(&events), ["no-space", ""]);
    }

    #[test]
    fn a_line_that_never_ends_is_refused_before_it_exhausts_memory() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut fed = 0;
        let err = loop {
            match p.feed(&chunk, &mut out) {
                Ok(()) => fed += chunk.len(),
                Err(e) => break e,
            }
            assert!(fed <= MAX_EVENT + chunk.len(), "no limit");
        };
        assert_eq!(err, EventTooLarge);
    }

    #[test]
    fn a_final_event_without_a_blank_line_is_kept_but_a_partial_line_is_not() {
        assert_eq!(data(&parse_in_pieces(b"data: [DONE]\n", 4)), ["[DONE]"]);
        assert!(parse_in_pieces(b"data: [DO", 4).is_empty());
    }
}
