//! Knowledge bases: named sets of documents, cut into passages (chunks) that are found
//! by keyword and, when the base has an embedder, by meaning.

use serde::{Deserialize, Serialize};

use crate::{ChunkId, DocumentId, KnowledgeBaseId, Timestamp};

/// What turns a base's passages into vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmbedderSpec {
    /// No embedder: keyword search only.
    None,
    /// A provider's embedding model (the passages are sent to that provider).
    Provider {
        /// The provider's name in Orchard.
        provider: String,
        /// The embedding model's id.
        model: String,
    },
    /// A model that runs inside Orchard, on this machine (nothing leaves it).
    Local {
        /// The model's name: a directory under the data directory's `models/`.
        model: String,
    },
}

impl EmbedderSpec {
    /// Parses the CLI and API form: `none`, `local:MODEL` or `PROVIDER:MODEL`.
    ///
    /// # Errors
    ///
    /// A message naming the accepted forms.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(EmbedderSpec::None);
        }
        match s.split_once(':') {
            Some(("local", model)) if !model.trim().is_empty() => Ok(EmbedderSpec::Local {
                model: model.trim().to_owned(),
            }),
            Some((provider, model)) if !provider.trim().is_empty() && !model.trim().is_empty() => {
                Ok(EmbedderSpec::Provider {
                    provider: provider.trim().to_owned(),
                    model: model.trim().to_owned(),
                })
            }
            _ => Err(format!(
                "'{s}' is not an embedder; use none, local:MODEL (a model added with `orchard embedder add`) or PROVIDER:MODEL"
            )),
        }
    }

    /// The identity stored beside each vector, so vectors of another model are never
    /// compared with this one's. `None` for [`EmbedderSpec::None`].
    pub fn key(&self) -> Option<String> {
        match self {
            EmbedderSpec::None => None,
            EmbedderSpec::Provider { provider, model } => Some(format!("{provider}:{model}")),
            EmbedderSpec::Local { model } => Some(format!("local:{model}")),
        }
    }

    /// Whether passages leave the machine to be embedded.
    pub fn sends_text_away(&self) -> bool {
        matches!(self, EmbedderSpec::Provider { .. })
    }
}

impl std::fmt::Display for EmbedderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key() {
            Some(k) => f.write_str(&k),
            None => f.write_str("none"),
        }
    }
}

/// Reordering of the found passages by a provider's rerank model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerankSpec {
    /// The provider's name in Orchard.
    pub provider: String,
    /// The rerank model's id.
    pub model: String,
}

/// A knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeBase {
    /// Its id.
    pub id: KnowledgeBaseId,
    /// Its name, unique per person.
    pub name: String,
    /// What embeds its passages.
    pub embedder: EmbedderSpec,
    /// Target passage size, in tokens.
    pub chunk_size: u32,
    /// Tokens repeated from the end of one passage at the start of the next.
    pub chunk_overlap: u32,
    /// Optional reranking.
    pub rerank: Option<RerankSpec>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// How far a document has come. A document is never `Ready` without text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    /// Waiting to be read.
    Queued,
    /// Being read and cut into passages.
    Parsing,
    /// Passages stored and searchable by keyword; vectors being made.
    Embedding,
    /// Searchable in every way the base offers.
    Ready,
    /// Stopped; [`Document::error`] says why.
    Failed,
}

str_enum!(DocStatus {
    Queued => "queued", Parsing => "parsing", Embedding => "embedding", Ready => "ready",
    Failed => "failed",
});

/// A document of a knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Its id.
    pub id: DocumentId,
    /// The base it belongs to.
    pub kb_id: KnowledgeBaseId,
    /// Where it came from: a file path, a URL, or `note:` and a title.
    pub source: String,
    /// Its title, when it has one (HTML `<title>`, the first heading of a note).
    pub title: Option<String>,
    /// What it was read as (`pdf`, `html`, `markdown`, ...), once read.
    pub kind: Option<String>,
    /// Where it stands.
    pub status: DocStatus,
    /// Why it failed, in words a person can act on.
    pub error: Option<String>,
    /// Size of the source in bytes, when known.
    pub bytes: Option<u64>,
    /// SHA-256 of the source's bytes, once read; an unchanged file is not read twice.
    pub content_hash: Option<String>,
    /// Passages stored.
    pub chunks: u64,
    /// Passages with a vector of the base's current embedder.
    pub embedded: u64,
    /// Tokens of its passages, overlaps included (what embedding them sends).
    pub tokens: u64,
    /// When it was added.
    pub created_at: Timestamp,
    /// When its status last changed.
    pub updated_at: Timestamp,
}

/// Where a passage lies in its document, for citations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLocation {
    /// Byte range of the passage in the document's extracted text.
    pub start: u64,
    /// End of that range (exclusive).
    pub end: u64,
    /// The PDF page, starting at 1.
    pub page: Option<u32>,
    /// The headings above the passage, outermost first.
    pub heading_path: Vec<String>,
}

/// A stored passage and its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// Its id.
    pub id: ChunkId,
    /// Its document.
    pub document_id: DocumentId,
    /// The document's source.
    pub source: String,
    /// The document's title.
    pub title: Option<String>,
    /// The passage's text (with the overlap from the passage before).
    pub text: String,
    /// Where it is.
    pub location: ChunkLocation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedder_specs_parse_and_name_themselves() {
        assert_eq!(EmbedderSpec::parse("none").unwrap(), EmbedderSpec::None);
        assert_eq!(EmbedderSpec::parse("").unwrap(), EmbedderSpec::None);
        let local = EmbedderSpec::parse("local:all-MiniLM-L6-v2").unwrap();
        assert_eq!(local.key().unwrap(), "local:all-MiniLM-L6-v2");
        assert!(!local.sends_text_away());
        let remote = EmbedderSpec::parse("openai:text-embedding-3-small").unwrap();
        assert!(remote.sends_text_away());
        assert_eq!(remote.to_string(), "openai:text-embedding-3-small");
        let err = EmbedderSpec::parse("local:").unwrap_err();
        assert!(err.contains("PROVIDER:MODEL"), "{err}");
        assert!(EmbedderSpec::parse("nonsense").is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            DocStatus::Queued,
            DocStatus::Parsing,
            DocStatus::Embedding,
            DocStatus::Ready,
            DocStatus::Failed,
        ] {
            assert_eq!(DocStatus::parse(s.as_str()), Some(s));
        }
    }
}
