//! `model.safetensors`: which tensors a BERT encoder needs, with which shapes, and reading
//! them as f32.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use safetensors::SafeTensors;
use serde::Deserialize;

use crate::EmbedError;
use crate::config::BertConfig;

/// A tensor's storage type and shape.
#[derive(Debug, Clone)]
pub(crate) struct TensorMeta {
    pub(crate) dtype: String,
    pub(crate) shape: Vec<usize>,
}

/// The largest header a sane weights file has (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

fn dtype_size(dtype: &str) -> Option<u64> {
    match dtype {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "F16" | "BF16" | "I16" | "U16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => Some(1),
        _ => None,
    }
}

fn invalid(path: &Path, detail: impl Into<String>) -> EmbedError {
    EmbedError::InvalidFile {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Reads only the header of a safetensors file (not the weights) and checks that every
/// tensor it lists lies inside the file.
pub(crate) fn read_header(path: &Path) -> Result<(HashMap<String, TensorMeta>, u64), EmbedError> {
    let io = |source| EmbedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| invalid(path, "it is shorter than a safetensors header"))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_HEADER || header_len + 8 > file_len {
        return Err(invalid(
            path,
            "its header length is impossible (truncated or not safetensors)",
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let raw: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| invalid(path, format!("its header is not valid JSON ({e})")))?;
    let data_len = file_len - 8 - header_len;
    let mut tensors = HashMap::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let t: RawTensor = serde_json::from_value(value)
            .map_err(|e| invalid(path, format!("tensor {name} is described wrongly ({e})")))?;
        let (start, end) = t.data_offsets;
        let count = t
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let bytes = match (count, dtype_size(&t.dtype)) {
            (Some(count), Some(size)) => count.checked_mul(size),
            _ => None,
        };
        if start > end || end > data_len || bytes.is_some_and(|b| b != end - start) {
            return Err(invalid(
                path,
                format!("tensor {name} does not fit in the file (truncated download?)"),
            ));
        }
        tensors.insert(
            name,
            TensorMeta {
                dtype: t.dtype,
                shape: t.shape,
            },
        );
    }
    Ok((tensors, file_len))
}

/// The names of the tensors of one encoder layer, without the model's prefix.
pub(crate) struct LayerNames {
    pub(crate) query: (String, String),
    pub(crate) key: (String, String),
    pub(crate) value: (String, String),
    pub(crate) attention_out: (String, String),
    pub(crate) attention_norm: (String, String),
    pub(crate) intermediate: (String, String),
    pub(crate) output: (String, String),
    pub(crate) output_norm: (String, String),
}

/// Where each tensor is, once the model's name prefix (`""` or `"bert."`) is known.
pub(crate) struct Plan {
    pub(crate) prefix: &'static str,
}

impl Plan {
    /// Finds the prefix the file's names use: plain `embeddings.…`/`encoder.…` as
    /// sentence-transformers saves a `BertModel`, or `bert.…` as a `BertFor…` head model.
    pub(crate) fn find(
        tensors: &HashMap<String, TensorMeta>,
        path: &Path,
    ) -> Result<Plan, EmbedError> {
        for prefix in ["", "bert."] {
            if tensors.contains_key(&format!("{prefix}embeddings.word_embeddings.weight")) {
                return Ok(Plan { prefix });
            }
        }
        Err(EmbedError::WrongWeights {
            path: path.to_path_buf(),
            detail: "it has no embeddings.word_embeddings.weight (nor bert.embeddings.…); it is \
                     not the weights of a BERT model"
                .to_owned(),
        })
    }

    pub(crate) fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) fn layer(&self, i: usize) -> LayerNames {
        let p = format!("{}encoder.layer.{i}.", self.prefix);
        let pair = |s: &str| (format!("{p}{s}.weight"), format!("{p}{s}.bias"));
        LayerNames {
            query: pair("attention.self.query"),
            key: pair("attention.self.key"),
            value: pair("attention.self.value"),
            attention_out: pair("attention.output.dense"),
            attention_norm: pair("attention.output.LayerNorm"),
            intermediate: pair("intermediate.dense"),
            output: pair("output.dense"),
            output_norm: pair("output.LayerNorm"),
        }
    }

    /// Every tensor the forward pass reads, with the shape `config.json` implies.
    pub(crate) fn expected(&self, cfg: &BertConfig) -> Vec<(String, Vec<usize>)> {
        let (h, i) = (cfg.hidden, cfg.intermediate);
        let mut out = vec![
            (
                self.name("embeddings.word_embeddings.weight"),
                vec![cfg.vocab, h],
            ),
            (
                self.name("embeddings.position_embeddings.weight"),
                vec![cfg.max_positions, h],
            ),
            (
                self.name("embeddings.token_type_embeddings.weight"),
                vec![cfg.type_vocab, h],
            ),
            (self.name("embeddings.LayerNorm.weight"), vec![h]),
            (self.name("embeddings.LayerNorm.bias"), vec![h]),
        ];
        for layer in 0..cfg.layers {
            let n = self.layer(layer);
            for ((w, b), shape) in [
                (n.query, vec![h, h]),
                (n.key, vec![h, h]),
                (n.value, vec![h, h]),
                (n.attention_out, vec![h, h]),
                (n.attention_norm, vec![h]),
                (n.intermediate, vec![i, h]),
                (n.output, vec![h, i]),
                (n.output_norm, vec![h]),
            ] {
                let bias = vec![shape[0]];
                out.push((w, shape));
                out.push((b, bias));
            }
        }
        out
    }

    /// Checks that every tensor the forward pass needs is there, with the right shape
    /// and a supported type.
    pub(crate) fn check(
        &self,
        cfg: &BertConfig,
        tensors: &HashMap<String, TensorMeta>,
        path: &Path,
    ) -> Result<(), EmbedError> {
        for (name, shape) in self.expected(cfg) {
            let Some(meta) = tensors.get(&name) else {
                return Err(EmbedError::WrongWeights {
                    path: path.to_path_buf(),
                    detail: format!("tensor {name} is missing"),
                });
            };
            if meta.shape != shape {
                return Err(EmbedError::WrongWeights {
                    path: path.to_path_buf(),
                    detail: format!(
                        "tensor {name} has shape {:?} where config.json implies {:?}",
                        meta.shape, shape
                    ),
                });
            }
            if !matches!(meta.dtype.as_str(), "F32" | "F16" | "BF16") {
                return Err(EmbedError::Unsupported {
                    path: path.to_path_buf(),
                    detail: format!(
                        "tensor {name} is stored as {}; only F32, F16 and BF16 weights are \
                         implemented",
                        meta.dtype
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The whole weights file, parsed, ready to hand out tensors as f32.
pub(crate) struct Weights<'a> {
    tensors: SafeTensors<'a>,
    path: &'a Path,
}

impl<'a> Weights<'a> {
    /// Parses the bytes of a safetensors file.
    pub(crate) fn parse(bytes: &'a [u8], path: &'a Path) -> Result<Self, EmbedError> {
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| invalid(path, format!("it is not a valid safetensors file ({e})")))?;
        Ok(Weights { tensors, path })
    }

    /// Name, type and shape of every tensor.
    pub(crate) fn metas(&self) -> HashMap<String, TensorMeta> {
        self.tensors
            .iter()
            .map(|(name, view)| {
                let meta = TensorMeta {
                    dtype: format!("{:?}", view.dtype()),
                    shape: view.shape().to_vec(),
                };
                (name.to_owned(), meta)
            })
            .collect()
    }

    /// The tensor as f32 values (converted from F16/BF16 when stored so); the caller has
    /// checked names, shapes and types with [`Plan::check`].
    pub(crate) fn f32(&self, name: &str) -> Result<Vec<f32>, EmbedError> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|e| EmbedError::WrongWeights {
                path: self.path.to_path_buf(),
                detail: format!("tensor {name}: {e}"),
            })?;
        let data = view.data();
        let values = match view.dtype() {
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            safetensors::Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            safetensors::Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(EmbedError::Unsupported {
                    path: self.path.to_path_buf(),
                    detail: format!("tensor {name} is stored as {other:?}"),
                });
            }
        };
        Ok(values)
    }
}
