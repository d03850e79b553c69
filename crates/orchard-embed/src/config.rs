//! The model directory's JSON files: `config.json` (the BERT encoder) and the optional
//! sentence-transformers files (`modules.json`, `1_Pooling/config.json`,
//! `sentence_bert_config.json`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::EmbedError;

/// File names inside a model directory.
pub(crate) const CONFIG_FILE: &str = "config.json";
pub(crate) const TOKENIZER_FILE: &str = "tokenizer.json";
pub(crate) const WEIGHTS_FILE: &str = "model.safetensors";
const MODULES_FILE: &str = "modules.json";
const SENTENCE_BERT_FILE: &str = "sentence_bert_config.json";
const DEFAULT_POOLING_DIR: &str = "1_Pooling";

/// The encoder's shape, from `config.json`.
#[derive(Debug, Clone)]
pub(crate) struct BertConfig {
    pub(crate) name_or_path: Option<String>,
    pub(crate) hidden: usize,
    pub(crate) layers: usize,
    pub(crate) heads: usize,
    pub(crate) intermediate: usize,
    pub(crate) max_positions: usize,
    pub(crate) type_vocab: usize,
    pub(crate) vocab: usize,
    pub(crate) layer_norm_eps: f32,
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    /// The mean of the vectors of the text's tokens (specials included, padding excluded).
    Mean,
    /// The vector of the first token ([CLS]).
    Cls,
}

/// The sentence-transformers pipeline around the encoder.
#[derive(Debug, Clone)]
pub(crate) struct SentenceConfig {
    pub(crate) pooling: Pooling,
    pub(crate) normalize: bool,
    /// sentence-transformers' `max_seq_length`, when the directory sets one.
    pub(crate) max_seq_length: Option<usize>,
    /// sentence-transformers lowercases the text itself before tokenizing when set.
    pub(crate) lowercase_input: bool,
}

#[derive(Deserialize)]
struct RawBertConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(rename = "_name_or_path")]
    name_or_path: Option<String>,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    position_embedding_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".to_owned()
}

#[derive(Deserialize)]
struct RawModule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct RawPooling {
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize)]
struct RawSentenceBert {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// The path of a required file, or [`EmbedError::MissingFile`].
pub(crate) fn required(dir: &Path, file: &str) -> Result<PathBuf, EmbedError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(EmbedError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.to_owned(),
        })
    }
}

/// Reads and parses a JSON file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let bytes = std::fs::read(path).map_err(|source| EmbedError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| EmbedError::InvalidFile {
        path: path.to_path_buf(),
        detail: format!("not the expected JSON ({e})"),
    })
}

fn unsupported(path: &Path, detail: impl Into<String>) -> EmbedError {
    EmbedError::Unsupported {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn invalid(path: &Path, detail: impl Into<String>) -> EmbedError {
    EmbedError::InvalidFile {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Reads `config.json` and checks that it describes a BERT encoder this crate can run.
pub(crate) fn read_bert_config(dir: &Path) -> Result<BertConfig, EmbedError> {
    let path = required(dir, CONFIG_FILE)?;
    let raw: RawBertConfig = read_json(&path)?;
    let is_bert = match raw.model_type.as_deref() {
        Some(t) => t == "bert",
        None => raw.architectures.iter().any(|a| a.starts_with("Bert")),
    };
    if !is_bert {
        let what = raw
            .model_type
            .clone()
            .or_else(|| raw.architectures.first().cloned())
            .unwrap_or_else(|| "an unnamed architecture".to_owned());
        return Err(unsupported(
            &path,
            format!("the model type is {what:?}, not \"bert\""),
        ));
    }
    if raw.hidden_act != "gelu" {
        return Err(unsupported(
            &path,
            format!(
                "the activation is {:?}; only \"gelu\" (exact, erf-based) is implemented",
                raw.hidden_act
            ),
        ));
    }
    if let Some(kind) = &raw.position_embedding_type
        && kind != "absolute"
    {
        return Err(unsupported(
            &path,
            format!("position embeddings are {kind:?}; only \"absolute\" is implemented"),
        ));
    }
    let sizes = [
        ("hidden_size", raw.hidden_size),
        ("num_hidden_layers", raw.num_hidden_layers),
        ("num_attention_heads", raw.num_attention_heads),
        ("intermediate_size", raw.intermediate_size),
        ("max_position_embeddings", raw.max_position_embeddings),
        ("type_vocab_size", raw.type_vocab_size),
        ("vocab_size", raw.vocab_size),
    ];
    for (name, value) in sizes {
        if value == 0 {
            return Err(invalid(&path, format!("{name} is 0")));
        }
    }
    if !raw.hidden_size.is_multiple_of(raw.num_attention_heads) {
        return Err(invalid(
            &path,
            format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size, raw.num_attention_heads
            ),
        ));
    }
    if !(raw.layer_norm_eps.is_finite() && raw.layer_norm_eps > 0.0) {
        return Err(invalid(&path, "layer_norm_eps is not a positive number"));
    }
    if raw.max_position_embeddings < 3 {
        return Err(invalid(&path, "max_position_embeddings is below 3"));
    }
    Ok(BertConfig {
        name_or_path: raw.name_or_path.filter(|n| !n.trim().is_empty()),
        hidden: raw.hidden_size,
        layers: raw.num_hidden_layers,
        heads: raw.num_attention_heads,
        intermediate: raw.intermediate_size,
        max_positions: raw.max_position_embeddings,
        type_vocab: raw.type_vocab_size,
        vocab: raw.vocab_size,
        layer_norm_eps: raw.layer_norm_eps as f32,
    })
}

/// Reads the optional sentence-transformers files. Without `modules.json` the model is
/// taken as encoder + pooling (mean unless `1_Pooling/config.json` says otherwise), with
/// no normalisation, as sentence-transformers itself does for a plain BERT model.
pub(crate) fn read_sentence_config(
    dir: &Path,
    bert: &BertConfig,
) -> Result<SentenceConfig, EmbedError> {
    let mut pooling_dir = DEFAULT_POOLING_DIR.to_owned();
    let mut normalize = false;
    let modules_path = dir.join(MODULES_FILE);
    if modules_path.is_file() {
        let modules: Vec<RawModule> = read_json(&modules_path)?;
        for (i, module) in modules.iter().enumerate() {
            let kind = module
                .kind
                .rsplit('.')
                .next()
                .unwrap_or(module.kind.as_str());
            match kind {
                "Transformer" if i == 0 => {}
                "Pooling" => pooling_dir = module.path.clone(),
                "Normalize" => normalize = true,
                _ => {
                    return Err(unsupported(
                        &modules_path,
                        format!(
                            "module {} is {:?}; only Transformer (first), Pooling and \
                             Normalize are implemented",
                            i, module.kind
                        ),
                    ));
                }
            }
        }
    }

    let mut pooling = Pooling::Mean;
    let pooling_path = dir.join(&pooling_dir).join(CONFIG_FILE);
    if pooling_path.is_file() {
        let raw: RawPooling = read_json(&pooling_path)?;
        if let Some(dim) = raw.word_embedding_dimension
            && dim != bert.hidden
        {
            return Err(EmbedError::WrongWeights {
                path: pooling_path,
                detail: format!(
                    "word_embedding_dimension is {dim} but the encoder's hidden_size is {}",
                    bert.hidden
                ),
            });
        }
        let others = raw.pooling_mode_max_tokens
            || raw.pooling_mode_mean_sqrt_len_tokens
            || raw.pooling_mode_weightedmean_tokens
            || raw.pooling_mode_lasttoken;
        pooling = match (
            raw.pooling_mode_mean_tokens,
            raw.pooling_mode_cls_token,
            others,
        ) {
            (true, false, false) => Pooling::Mean,
            (false, true, false) => Pooling::Cls,
            _ => {
                return Err(unsupported(
                    &pooling_path,
                    "the pooling is not exactly one of mean or CLS-token pooling",
                ));
            }
        };
    }

    let mut max_seq_length = None;
    let mut lowercase_input = false;
    let st_path = dir.join(SENTENCE_BERT_FILE);
    if st_path.is_file() {
        let raw: RawSentenceBert = read_json(&st_path)?;
        if raw.max_seq_length == Some(0) {
            return Err(invalid(&st_path, "max_seq_length is 0"));
        }
        max_seq_length = raw.max_seq_length;
        lowercase_input = raw.do_lower_case;
    }

    Ok(SentenceConfig {
        pooling,
        normalize,
        max_seq_length,
        lowercase_input,
    })
}
