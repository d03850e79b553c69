//! Newtype ids, one per table, so the compiler checks ownership plumbing: a function
//! that takes a [`UserId`] cannot be handed a [`TopicId`] by mistake.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The text of an id that was not a positive integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid id (expected a positive number)")]
pub struct ParseIdError(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw database id.
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw database id.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().parse::<i64>() {
                    Ok(v) if v > 0 => Ok(Self(v)),
                    _ => Err(ParseIdError(s.to_owned())),
                }
            }
        }
    };
}

id_type!(
    /// A person. The local studio has exactly one; the hosted platform has many.
    UserId
);
id_type!(
    /// A configured model provider (a row in `providers`).
    ProviderId
);
id_type!(
    /// One API key of a provider (a row in `provider_keys`).
    KeyId
);
id_type!(
    /// A model known for a provider (a row in `models`).
    ModelRowId
);
id_type!(
    /// An assistant (prompt preset).
    AssistantId
);
id_type!(
    /// A folder that groups topics.
    FolderId
);
id_type!(
    /// A tag on topics.
    TagId
);
id_type!(
    /// A conversation.
    TopicId
);
id_type!(
    /// A message in a topic's message tree.
    MessageId
);
id_type!(
    /// A knowledge base.
    KnowledgeBaseId
);
id_type!(
    /// A document in a knowledge base.
    DocumentId
);
id_type!(
    /// A passage of a knowledge-base document (a row in `kb_chunks`).
    ChunkId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_positive_numbers() {
        assert_eq!("42".parse::<TopicId>().unwrap(), TopicId::new(42));
        assert_eq!(" 7 ".parse::<TopicId>().unwrap().get(), 7);
        assert!("0".parse::<TopicId>().is_err());
        assert!("-3".parse::<TopicId>().is_err());
        let err = "abc".parse::<TopicId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "'abc' is not a valid id (expected a positive number)"
        );
    }
}
