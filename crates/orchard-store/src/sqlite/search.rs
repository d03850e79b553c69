//! Searching the text of a person's messages.
//!
//! Text blocks are indexed by the FTS5 table `message_search` (trigram tokenizer, see
//! migration 0003). A trigram index can only match three characters or more, so shorter
//! queries scan the text blocks instead; both paths return the same kind of excerpt.

use orchard_core::message::{Role, SNIPPET_END, SNIPPET_START, SearchHit};
use orchard_core::{MessageId, Timestamp, TopicId, UserId};
use sqlx::Row;

use super::{SqliteStore, corrupt};
use crate::Result;

/// Length of an excerpt in characters. With the trigram tokenizer an FTS5 token starts
/// at every character, so this is also the token count given to `snippet()` (whose
/// maximum is 64): about a dozen English words.
const EXCERPT_CHARS: usize = 64;

/// Characters kept before the first match in a fallback excerpt.
const EXCERPT_BEFORE: usize = EXCERPT_CHARS / 3;

/// Finds `best(message_id, block_id)`, the first matching text block of each matching
/// message of user `?2` (`?1` is the query).
const FTS_BEST: &str = "SELECT b.message_id, MIN(b.id) AS block_id FROM message_search \
       JOIN message_blocks b ON b.id = message_search.rowid \
      WHERE message_search MATCH ?1 AND b.user_id = ?2 GROUP BY b.message_id";
const SCAN_BEST: &str = "SELECT b.message_id, MIN(b.id) AS block_id FROM message_blocks b \
      WHERE b.user_id = ?2 AND b.kind = 'text' AND instr(lower(b.content), lower(?1)) > 0 \
      GROUP BY b.message_id";

/// The newest `?3` hits among `best`, with their topic and an excerpt: `snippet()` for
/// the index (computed for the page only), the block's text for the scan.
fn hits_sql(best: &str, fts: bool) -> String {
    let (excerpt, source) = if fts {
        (
            "snippet(message_search, 0, ?4, ?5, '…', ?6)",
            "JOIN message_search ON message_search.rowid = page.block_id AND message_search MATCH ?1",
        )
    } else {
        (
            "b.content",
            "JOIN message_blocks b ON b.id = page.block_id AND b.user_id = ?2",
        )
    };
    format!(
        "WITH best AS ({best}), \
         page AS (SELECT m.id, m.topic_id, m.role, m.created_at, best.block_id FROM best \
                    JOIN messages m ON m.id = best.message_id AND m.user_id = ?2 \
                   ORDER BY m.created_at DESC, m.id DESC LIMIT ?3) \
         SELECT page.id, page.topic_id, page.role, page.created_at, t.title, {excerpt} AS excerpt \
           FROM page JOIN topics t ON t.id = page.topic_id AND t.user_id = ?2 {source} \
          ORDER BY page.created_at DESC, page.id DESC"
    )
}

/// `text` as an FTS5 string: one phrase, so quotes, `*`, `AND`, `NEAR(` and the like
/// in what a person typed are searched for rather than parsed.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// An excerpt of `text` around the first occurrence of `needle`, with every occurrence
/// in it marked, like `snippet()`. Case is ignored for ASCII only, as SQLite's `lower()`
/// does (which keeps byte offsets equal between `text` and its lowercase form).
fn excerpt(text: &str, needle: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let found = lower.find(&needle);
    let first = found.unwrap_or(0);
    let start = text[..first]
        .char_indices()
        .rev()
        .take(EXCERPT_BEFORE)
        .last()
        .map_or(first, |(i, _)| i);
    let end = text[start..]
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(text.len(), |(i, _)| start + i)
        .max(found.map_or(0, |f| f + needle.len()));
    let mut out = String::with_capacity(end - start + 16);
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    if !needle.is_empty() {
        for (i, _) in lower[start..end].match_indices(&needle) {
            let i = start + i;
            out.push_str(&text[at..i]);
            out.push(SNIPPET_START);
            out.push_str(&text[i..i + needle.len()]);
            out.push(SNIPPET_END);
            at = i + needle.len();
        }
    }
    out.push_str(&text[at..end]);
    if end < text.len() {
        out.push('…');
    }
    out
}

impl SqliteStore {
    /// See [`crate::ConversationStore::search_messages`].
    pub(super) async fn search(
        &self,
        user: UserId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>> {
        // FTS5 reads the query as a C string: a NUL would cut off the closing quote.
        let query = query.replace('\0', "");
        let query = query.trim();
        if query.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let fts = query.chars().count() >= 3;
        let sql = hits_sql(if fts { FTS_BEST } else { SCAN_BEST }, fts);
        let q = sqlx::query(sqlx::AssertSqlSafe(sql));
        let q = if fts {
            q.bind(fts_phrase(query))
                .bind(user.get())
                .bind(limit)
                .bind(SNIPPET_START.to_string())
                .bind(SNIPPET_END.to_string())
                .bind(EXCERPT_CHARS as i64)
        } else {
            q.bind(query).bind(user.get()).bind(limit)
        };
        let rows = q.fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let role: String = row.get("role");
                let text: String = row.get("excerpt");
                Ok(SearchHit {
                    topic_id: TopicId::new(row.get("topic_id")),
                    topic_title: row.get("title"),
                    message_id: MessageId::new(row.get("id")),
                    role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
                    snippet: if fts { text } else { excerpt(&text, query) },
                    created_at: Timestamp::from_millis(row.get("created_at")),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(s: &str) -> String {
        s.replace(SNIPPET_START, "[").replace(SNIPPET_END, "]")
    }

    #[test]
    fn excerpts_mark_every_occurrence_and_ignore_ascii_case() {
        assert_eq!(marked(&excerpt("Go go GO", "go")), "[Go] [go] [GO]");
        assert_eq!(marked(&excerpt("你好世界", "世界")), "你好[世界]");
    }

    #[test]
    fn long_text_is_cut_around_the_first_match_on_character_boundaries() {
        let text = format!("{}界{}", "世".repeat(100), "好".repeat(100));
        let out = marked(&excerpt(&text, "界"));
        assert!(out.starts_with('…') && out.ends_with('…'), "{out}");
        assert!(out.contains("[界]"), "{out}");
        assert_eq!(out.chars().filter(|c| *c == '世').count(), EXCERPT_BEFORE);
        assert_eq!(out.chars().count(), EXCERPT_CHARS + 4);
    }

    #[test]
    fn fts_phrases_quote_what_was_typed() {
        assert_eq!(fts_phrase(r#"say "hi" OR *"#), r#""say ""hi"" OR *""#);
    }
}
