#!/usr/bin/env python3
"""Regenerates tests/data/reference.json, the expectations of tests/minilm.rs.

Two independent references for the Rust embedder, from the unmodified all-MiniLM-L6-v2
files that ./scripts/test fetches:

* token ids from the Hugging Face `tokenizers` package reading the model's tokenizer.json
  (truncation at the model's 256 tokens, no padding): the reference tokenizer;
* sentence embeddings from a small float64 NumPy BERT forward pass written from the BERT
  paper / the `transformers` BertModel definition (not from the Rust code): embeddings,
  post-LayerNorm encoder layers with exact erf GELU, mean pooling, L2 normalisation.
  Its first values for "This is an example sentence" agree with the values published for
  sentence-transformers/all-MiniLM-L6-v2 (0.06765693, 0.06349593, 0.04871314, 0.07930495,
  0.03744806, 0.00265273) to about 1e-8.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy safetensors tokenizers
    /tmp/venv/bin/python scripts/reference.py "$ORCHARD_TEST_MINILM" > tests/data/reference.json
"""
import json
import math
import random
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

model_dir = sys.argv[1]
MAX_LEN = 256
tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
tok.no_padding()
tok.enable_truncation(MAX_LEN)
cfg = json.load(open(f"{model_dir}/config.json"))
w = {k: v.astype(np.float64) for k, v in load_file(f"{model_dir}/model.safetensors").items()}
H = cfg["hidden_size"]
NH = cfg["num_attention_heads"]
D = H // NH
EPS = cfg["layer_norm_eps"]
erf = np.vectorize(math.erf)


def layer_norm(x, name):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w[name + ".weight"] + w[name + ".bias"]


def linear(x, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def embed(text):
    ids = tok.encode(text).ids
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = linear(x, p + "attention.self.query").reshape(n, NH, D).transpose(1, 0, 2)
        k = linear(x, p + "attention.self.key").reshape(n, NH, D).transpose(1, 0, 2)
        v = linear(x, p + "attention.self.value").reshape(n, NH, D).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(D)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, H)
        x = layer_norm(x + linear(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = layer_norm(x + linear(h, p + "output.dense"), p + "output.LayerNorm")
    e = x.mean(0)
    return (e / np.linalg.norm(e)).tolist()


long_text = " ".join(
    ["The", "orchard", "keeps", "every", "conversation", "local,", "private", "and", "searchable."]
    * 60
)
tricky = [
    "This is an example sentence",
    "",
    "   \t\n ",
    "Café déjà vu — 東京",
    "CAFÉ Ångström naïve façade résumé Crème Brûlée",
    "e\u0301 a\u0308 n\u0303 decomposed accents",
    "中文字符测试，日本語のテキスト。한국어 텍스트",
    "Hello, world! (test) [brackets] {braces} 'quotes' \"double\" a-b_c/d\\e ¿qué? ¡sí!",
    "x" * 300,
    "before " + "y" * 300 + " after",
    "z" * 100 + " " + "w" * 101,
    "unaffable unbelievably tokenization antidisestablishmentarianism",
    "tab\there\nnewline\r\x00null\u200bzero\u200dwidth\ufeffbom\ufffdrepl\x85nel\x0bvt",
    "Emoji 😀🥰🫠 and symbols ©®™ ½ ∑ € £ ¥ §",
    "hello [SEP] world [CLS][MASK] [unused1] [PAD]x",
    "İstanbul ΣΊΣΥΦΟΣ straße ǅ ﬁ ẞ",
    "compat \uf900\uf901 ext-B \U00020000 gap \U0002b820 \U0002b920",
    "a\u00a0b\u3000c\u2028d\u1680e\u180ef\u2060g",
    "3.14159 1,000,000 2024-01-01 v1.2.3 #42 @user 50%",
    "https://example.com/path?q=1&x=y#frag user@example.org",
    "مرحبا بالعالم नमस्ते दुनिया สวัสดีชาวโลก",
    "ﬀ ① ｆｕｌｌｗｉｄｔｈ Ⅻ ㎏",
    long_text,
]
rng = random.Random(20261123)
blocks = [
    (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
    (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1E00, 0x1EFF), (0x2000, 0x206F),
    (0x2190, 0x23FF), (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
    (0xFE00, 0xFFFD), (0x1F300, 0x1FAFF), (0x20000, 0x2FA1F), (0xE0000, 0xE007F), (0x0, 0x1F),
]
fuzz = []
for _ in range(150):
    chars = []
    for _ in range(rng.randint(1, 40)):
        if rng.random() < 0.35:
            chars.append(rng.choice(" aeiouxyzAEIOU.,!?'-"))
        else:
            a, b = rng.choice(blocks)
            cp = rng.randint(a, b)
            if not 0xD800 <= cp <= 0xDFFF:
                chars.append(chr(cp))
    fuzz.append("".join(chars))

sentences = [
    "This is an example sentence",
    "Each sentence is converted",
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "Café déjà vu — 東京",
    long_text,
]
json.dump(
    {
        "source": "scripts/reference.py (tokenizers package + float64 NumPy BERT forward)",
        "max_tokens": MAX_LEN,
        "tokens": [{"text": t, "ids": tok.encode(t).ids} for t in tricky + fuzz],
        "embeddings": [{"text": s, "embedding": embed(s)} for s in sentences],
    },
    sys.stdout,
    ensure_ascii=True,
)
