//! Orchard's local sentence embedder.
//!
//! [`LocalEmbedder`] runs a BERT-family sentence-transformers model (such as
//! all-MiniLM-L6-v2) in-process on the CPU, so that text never leaves the machine to be
//! embedded. It reads a model directory as sentence-transformers saves it:
//!
//! - `config.json`: the BERT encoder's shape (`model_type` must be `"bert"`);
//! - `tokenizer.json`: a Hugging Face WordPiece tokenizer (BertNormalizer,
//!   BertPreTokenizer, WordPiece, `[CLS] … [SEP]` template);
//! - `model.safetensors`: the weights, F32, F16 or BF16, names with or without `bert.`;
//! - optionally `modules.json` (is there a `Normalize` module?), `1_Pooling/config.json`
//!   (mean or CLS pooling) and `sentence_bert_config.json` (`max_seq_length`).
//!
//! Everything is implemented here, in safe Rust, without an ML framework: the tokenizer
//! (checked token for token against the reference implementation), the f32 forward pass
//! (matrix products through `matrixmultiply`'s sgemm), pooling and normalisation.
//!
//! ```no_run
//! # fn main() -> Result<(), orchard_embed::EmbedError> {
//! use orchard_embed::LocalEmbedder;
//! let embedder = LocalEmbedder::load("models/all-MiniLM-L6-v2".as_ref())?;
//! let vectors = embedder.embed(&["A private orchard.", "Local embeddings."])?;
//! assert_eq!(vectors[0].len(), embedder.dims());
//! # Ok(()) }
//! ```

mod config;
mod error;
mod math;
mod model;
mod tokenizer;
mod unicode_tables;
mod weights;

use std::path::{Path, PathBuf};

pub use error::EmbedError;

use config::{BertConfig, Pooling, SentenceConfig};
use tokenizer::{Encoding, Tokenizer};
use weights::{Plan, Weights};

/// How many tokens (of all texts together) one forward pass takes at most. Measured on
/// MiniLM with 2 cores: 512 to 2048 are equally fast (about 15 MB of activations at
/// 1024); much larger batches spill the FFN activations out of the caches.
const BATCH_TOKENS: usize = 1024;

/// What [`LocalEmbedder::check_dir`] learned about a model directory without loading its
/// weights.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The model's name: the directory's name, or `_name_or_path` from `config.json`.
    pub name: String,
    /// The length of the vectors the model produces.
    pub dims: usize,
    /// The most tokens of a text the model reads; the rest of a longer text is ignored.
    pub max_tokens: usize,
    /// The number of encoder layers.
    pub layers: usize,
    /// Whether the vectors are L2-normalised (a `Normalize` module in `modules.json`).
    pub normalized: bool,
    /// The size of `model.safetensors`, in bytes.
    pub weights_bytes: u64,
}

/// A sentence embedder running a BERT-family model in-process on the CPU.
///
/// Loading reads the whole model into memory (about 90 MB for all-MiniLM-L6-v2);
/// embedding needs no I/O. It is `Send + Sync`: share one behind an `Arc`.
pub struct LocalEmbedder {
    name: String,
    dims: usize,
    max_tokens: usize,
    tokenizer: Tokenizer,
    model: model::Bert,
    pooling: Pooling,
    normalize: bool,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("name", &self.name)
            .field("dims", &self.dims)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

/// The parts of a model directory read before the weights.
struct Described {
    name: String,
    bert: BertConfig,
    sentence: SentenceConfig,
    tokenizer: Tokenizer,
    weights_path: PathBuf,
    max_tokens: usize,
}

fn describe(dir: &Path) -> Result<Described, EmbedError> {
    let meta = std::fs::metadata(dir).map_err(|source| EmbedError::NotADirectory {
        dir: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(EmbedError::NotADirectory {
            dir: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "it is a file"),
        });
    }
    config::required(dir, config::CONFIG_FILE)?;
    let tokenizer_path = config::required(dir, config::TOKENIZER_FILE)?;
    let weights_path = config::required(dir, config::WEIGHTS_FILE)?;
    let bert = config::read_bert_config(dir)?;
    let sentence = config::read_sentence_config(dir, &bert)?;
    let tokenizer = Tokenizer::from_file(&tokenizer_path, sentence.lowercase_input)?;
    let mismatch = |detail: String| EmbedError::WrongWeights {
        path: tokenizer_path.clone(),
        detail,
    };
    if tokenizer.max_id() as usize >= bert.vocab {
        return Err(mismatch(format!(
            "it uses token id {} but config.json's vocab_size is {}",
            tokenizer.max_id(),
            bert.vocab
        )));
    }
    if tokenizer.max_type() as usize >= bert.type_vocab {
        return Err(mismatch(format!(
            "it uses token type {} but config.json's type_vocab_size is {}",
            tokenizer.max_type(),
            bert.type_vocab
        )));
    }
    let max_tokens = sentence
        .max_seq_length
        .unwrap_or(bert.max_positions)
        .min(bert.max_positions);
    if max_tokens <= tokenizer.specials() {
        return Err(mismatch(format!(
            "its template adds {} special tokens, leaving no room in {max_tokens} tokens",
            tokenizer.specials()
        )));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            dir.canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .or_else(|| bert.name_or_path.clone())
        .unwrap_or_else(|| "local-model".to_owned());
    Ok(Described {
        name,
        bert,
        sentence,
        tokenizer,
        weights_path,
        max_tokens,
    })
}

impl LocalEmbedder {
    /// Loads the model in `dir` (see the crate documentation for the files it needs).
    ///
    /// Errors name the file at fault: a missing file, a model that is not BERT or uses a
    /// tokenizer or pooling this crate does not implement, weights whose shapes do not fit
    /// `config.json`, a damaged file.
    pub fn load(dir: &Path) -> Result<LocalEmbedder, EmbedError> {
        let described = describe(dir)?;
        let path = described.weights_path.as_path();
        let bytes = std::fs::read(path).map_err(|source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let weights = Weights::parse(&bytes, path)?;
        let metas = weights.metas();
        let plan = Plan::find(&metas, path)?;
        plan.check(&described.bert, &metas, path)?;
        let model = model::Bert::load(&described.bert, &weights, &plan)?;
        Ok(LocalEmbedder {
            name: described.name,
            dims: described.bert.hidden,
            max_tokens: described.max_tokens,
            tokenizer: described.tokenizer,
            model,
            pooling: described.sentence.pooling,
            normalize: described.sentence.normalize,
        })
    }

    /// Checks that `dir` holds a model this crate can run, reading its configuration, its
    /// tokenizer and the header of its weights (names, shapes, types) but not the weights
    /// themselves, so it is quick even for a large model.
    pub fn check_dir(dir: &Path) -> Result<ModelInfo, EmbedError> {
        let described = describe(dir)?;
        let path = described.weights_path.as_path();
        let (metas, weights_bytes) = weights::read_header(path)?;
        let plan = Plan::find(&metas, path)?;
        plan.check(&described.bert, &metas, path)?;
        Ok(ModelInfo {
            name: described.name,
            dims: described.bert.hidden,
            max_tokens: described.max_tokens,
            layers: described.bert.layers,
            normalized: described.sentence.normalize,
            weights_bytes,
        })
    }

    /// The length of the vectors [`embed`](Self::embed) returns.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The most tokens of one text the model reads, `[CLS]` and `[SEP]` included; the rest
    /// of a longer text does not count towards its vector. Compare with
    /// [`count_tokens`](Self::count_tokens) to cut texts into chunks that fit.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The model's name: the name of its directory, or `_name_or_path` from `config.json`.
    pub fn model_name(&self) -> &str {
        &self.name
    }

    /// How many tokens `text` makes, `[CLS]` and `[SEP]` included, before truncation: a
    /// text fits when this is at most [`max_tokens`](Self::max_tokens).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.count(text)
    }

    /// Embeds each text into a vector of [`dims`](Self::dims) values (of length 1 when the
    /// model normalises), in the order given. A text longer than
    /// [`max_tokens`](Self::max_tokens) is truncated. Texts are batched internally, longest
    /// first; the result of a text does not depend on the others of the call.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings: Vec<Encoding> = texts
            .iter()
            .map(|t| self.tokenizer.encode(t, self.max_tokens))
            .collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].ids.len()));
        let mut vectors = vec![Vec::new(); texts.len()];
        let mut batch: Vec<usize> = Vec::new();
        let mut tokens = 0;
        let mut run = |batch: &mut Vec<usize>| {
            let inputs: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
            let outputs = self.model.embed(&inputs, self.pooling, self.normalize);
            for (&i, v) in batch.iter().zip(outputs) {
                vectors[i] = v;
            }
            batch.clear();
        };
        for i in order {
            let n = encodings[i].ids.len();
            if !batch.is_empty() && tokens + n > BATCH_TOKENS {
                run(&mut batch);
                tokens = 0;
            }
            batch.push(i);
            tokens += n;
        }
        if !batch.is_empty() {
            run(&mut batch);
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedder_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LocalEmbedder>();
        assert_send_sync::<ModelInfo>();
        assert_send_sync::<EmbedError>();
    }
}
