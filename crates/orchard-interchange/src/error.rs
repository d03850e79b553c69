//! What can go wrong while importing, worded for the person who chose the file.

use std::fmt;

/// The kinds of file [`import`](crate::import) understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// ChatGPT's `conversations.json` (from "Export data").
    ChatGpt,
    /// Claude's `conversations.json` (from "Export data").
    Claude,
    /// Orchard's own JSON export ([`export_json`](crate::export_json)).
    Orchard,
}

impl Format {
    /// The format's name as a person knows it, used in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Format::ChatGpt => "ChatGPT export",
            Format::Claude => "Claude export",
            Format::Orchard => "Orchard export",
        }
    }

    /// What one conversation is called in this format.
    const fn item(self) -> &'static str {
        match self {
            Format::ChatGpt | Format::Claude => "conversation",
            Format::Orchard => "topic",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a file could not be imported. The `Display` text is meant to be shown as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are not UTF-8 text.
    #[error(
        "this file is not UTF-8 text: the bytes at line {line}, column {column} are not valid \
         UTF-8{hint}"
    )]
    NotUtf8 {
        /// Line of the first bad byte, from 1.
        line: usize,
        /// Column (in characters) of the first bad byte, from 1.
        column: usize,
        /// A guess at what the file is instead (may be empty).
        hint: &'static str,
    },
    /// The text is not JSON.
    #[error("this file is not valid JSON: {problem} at line {line}, column {column}{hint}")]
    NotJson {
        /// What the JSON parser found.
        problem: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// Extra advice (may be empty).
        hint: &'static str,
    },
    /// Valid JSON, but none of the formats Orchard imports.
    #[error(
        "this file is not a ChatGPT conversations.json, a Claude export or an Orchard export \
         (expected a JSON array of conversations, each with a \"mapping\" (ChatGPT) or \
         \"chat_messages\" (Claude), or an object with \"format\": \"orchard-topics\"; \
         found {found})"
    )]
    UnknownFormat {
        /// A short description of what the file holds instead.
        found: String,
    },
    /// An Orchard export written by a newer Orchard.
    #[error(
        "this Orchard export is version {found}, but this Orchard reads version 1; update \
         Orchard to import it"
    )]
    UnsupportedVersion {
        /// The version the file declares.
        found: String,
    },
    /// More messages than one import accepts.
    #[error(
        "this {format} holds {count} messages; Orchard imports at most {limit} messages from \
         one file (export fewer conversations, or split the file)"
    )]
    TooManyMessages {
        /// The file's format.
        format: Format,
        /// How many messages it holds.
        count: usize,
        /// The limit ([`MAX_MESSAGES`](crate::MAX_MESSAGES)).
        limit: usize,
    },
    /// The file is of a known format but something in it is broken.
    #[error("{}", describe_invalid(*.format, *.conversation, .title.as_deref(), .problem))]
    Invalid {
        /// The file's format.
        format: Format,
        /// Which conversation (topic), from 1; `None` for the file as a whole.
        conversation: Option<usize>,
        /// That conversation's title, if it has one.
        title: Option<String>,
        /// What is wrong, naming the message.
        problem: String,
    },
}

/// The text of [`ImportError::Invalid`]: "ChatGPT export, conversation 3 ('Trip plan'): …".
fn describe_invalid(
    format: Format,
    conversation: Option<usize>,
    title: Option<&str>,
    problem: &str,
) -> String {
    let mut out = format.name().to_owned();
    if let Some(n) = conversation {
        out.push_str(&format!(", {} {n}", format.item()));
        if let Some(t) = title.filter(|t| !t.trim().is_empty()) {
            out.push_str(&format!(" ('{}')", short(t)));
        }
    }
    out.push_str(": ");
    out.push_str(problem);
    out
}

/// A title or id shortened to fit in one line of an error message.
pub(crate) fn short(s: &str) -> String {
    const MAX: usize = 60;
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    if one_line.chars().count() <= MAX {
        one_line.to_owned()
    } else {
        let mut cut: String = one_line.chars().take(MAX - 1).collect();
        cut.push('…');
        cut
    }
}

/// Where in a file a problem is: the format and, inside it, the conversation.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub format: Format,
    pub conversation: Option<usize>,
    pub title: Option<String>,
}

impl Place {
    /// The file as a whole.
    pub fn file(format: Format) -> Self {
        Self {
            format,
            conversation: None,
            title: None,
        }
    }

    /// Conversation `index` (from 0) of the file, before its title is known.
    pub fn conversation(format: Format, index: usize) -> Self {
        Self {
            format,
            conversation: Some(index.saturating_add(1)),
            title: None,
        }
    }

    /// An error at this place.
    pub fn err(&self, problem: impl Into<String>) -> ImportError {
        ImportError::Invalid {
            format: self.format,
            conversation: self.conversation,
            title: self.title.clone(),
            problem: problem.into(),
        }
    }
}

impl ImportError {
    /// Turns a JSON parse failure into words, keeping its position.
    pub(crate) fn from_json(e: &serde_json::Error, text: &str) -> Self {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let problem = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        let (problem, hint) = match e.classify() {
            serde_json::error::Category::Eof => (
                "the file ends in the middle of the data".to_owned(),
                " (is it truncated? try downloading or unzipping the export again)",
            ),
            // Not even the start of JSON: most likely another file of the export.
            _ if !text.trim_start().starts_with(['[', '{']) => (
                problem,
                " (a conversations.json starts with '['; chat.html and the export's other \
                 files cannot be imported)",
            ),
            _ => (problem, ""),
        };
        ImportError::NotJson {
            problem,
            line,
            column,
            hint,
        }
    }
}
