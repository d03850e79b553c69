//! What can go wrong when loading a model directory or embedding text.

use std::path::PathBuf;

/// Why a model directory could not be used, or why embedding failed.
///
/// Every message names the file at fault and says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The path given as a model directory is not a readable directory.
    #[error(
        "{} is not a model directory ({source}); give the directory that holds the model's \
         config.json, tokenizer.json and model.safetensors",
        dir.display()
    )]
    NotADirectory {
        /// The path that was given.
        dir: PathBuf,
        /// Why it could not be used.
        source: std::io::Error,
    },

    /// A file the embedder needs is not in the model directory.
    #[error(
        "the model directory {} has no {file}; a sentence-transformers model directory needs \
         config.json, tokenizer.json and model.safetensors (download all of the model's files \
         into one directory)",
        dir.display()
    )]
    MissingFile {
        /// The model directory.
        dir: PathBuf,
        /// The missing file, relative to the directory.
        file: String,
    },

    /// A file exists but could not be read.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error from the operating system.
        source: std::io::Error,
    },

    /// A file could be read but is not what it should be (bad JSON, a missing field, a
    /// truncated or garbled weights file).
    #[error("{} is damaged or not a model file: {detail}; download it again", path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// The model is valid but is not one this embedder can run (another architecture, an
    /// unsupported tokenizer, pooling or activation).
    #[error(
        "{} describes a model this embedder cannot run: {detail}; it runs BERT-family \
         sentence-transformers models such as all-MiniLM-L6-v2",
        path.display()
    )]
    Unsupported {
        /// The file that describes the unsupported part.
        path: PathBuf,
        /// What is not supported.
        detail: String,
    },

    /// The weights do not fit the model's configuration (a tensor is missing or has the
    /// wrong shape or type), usually because files of different models were mixed.
    #[error(
        "{} does not fit config.json: {detail}; make sure every file of the directory comes \
         from the same model",
        path.display()
    )]
    WrongWeights {
        /// The weights file.
        path: PathBuf,
        /// Which tensor does not fit, and how.
        detail: String,
    },
}
