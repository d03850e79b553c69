//! `<think>…</think>` inside answer text (DeepSeek-R1 and Qwen through many
//! OpenAI-compatible servers) becomes thinking, like `reasoning_content` does.
//!
//! Tags may be split across deltas (`<thi` + `nk>`), so text that could be the start of
//! a tag is held back until the next delta shows whether it is one.

use crate::ChatEvent;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Splits a stream of text deltas into text and thinking.
#[derive(Debug, Default)]
pub(crate) struct ThinkSplitter {
    inside: bool,
    held: String,
}

impl ThinkSplitter {
    /// Feeds one text delta; hands the events it yields to `out`.
    pub fn feed(&mut self, delta: &str, mut out: impl FnMut(ChatEvent)) {
        self.held.push_str(delta);
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            if let Some(at) = self.held.find(tag) {
                let before: String = self.held.drain(..at).collect();
                self.held.drain(..tag.len());
                self.emit(before, &mut out);
                self.inside = !self.inside;
                continue;
            }
            // Keep back a suffix that could still become the tag.
            let keep = (1..tag.len())
                .rev()
                .find(|&n| self.held.ends_with(&tag[..n]))
                .unwrap_or(0);
            let cut = self.held.len() - keep;
            let ready: String = self.held.drain(..cut).collect();
            self.emit(ready, &mut out);
            return;
        }
    }

    /// Emits whatever is held at the end of the stream.
    pub fn finish(&mut self, mut out: impl FnMut(ChatEvent)) {
        let rest = std::mem::take(&mut self.held);
        self.emit(rest, &mut out);
    }

    fn emit(&self, text: String, out: &mut impl FnMut(ChatEvent)) {
        if text.is_empty() {
            return;
        }
        out(if self.inside {
            ChatEvent::ThinkingDelta(text)
        } else {
            ChatEvent::TextDelta(text)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::default();
        let mut out = Vec::new();
        for p in pieces {
            s.feed(p, |e| out.push(e));
        }
        s.finish(|e| out.push(e));
        let mut text = String::new();
        let mut thinking = String::new();
        for e in out {
            match e {
                ChatEvent::TextDelta(t) => text.push_str(&t),
                ChatEvent::ThinkingDelta(t) => thinking.push_str(&t),
                other => panic!("{other:?}"),
            }
        }
        (thinking, text)
    }

    #[test]
    fn think_tags_become_thinking_wherever_the_deltas_split() {
        let whole = "<think>Let me see: 2+2.</think>The answer is 4 < 5.";
        for size in 1..whole.len() {
            let pieces: Vec<String> = whole
                .as_bytes()
                .chunks(size)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            assert_eq!(
                split(&refs),
                ("Let me see: 2+2.".into(), "The answer is 4 < 5.".into()),
                "size {size}"
            );
        }
    }

    #[test]
    fn text_without_tags_passes_through_and_a_lone_angle_bracket_is_not_held_forever() {
        assert_eq!(
            split(&["a < b", " and c <t"]),
            (String::new(), "a < b and c <t".into())
        );
        assert_eq!(
            split(&["<think>unfinished"]),
            ("unfinished".into(), String::new())
        );
    }
}
