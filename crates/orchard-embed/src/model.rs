//! The BERT encoder's forward pass, in f32 on the CPU.
//!
//! Texts of a batch are packed one after another (no padding rows): every step but
//! attention works token by token, and attention runs text by text over that text's own
//! tokens only, which is exactly what an attention mask over padding computes, without
//! computing the padding.
//!
//! Matrix products go through sgemm (`matrixmultiply`, reached through ndarray's safe
//! API). Work is shared out between the machine's cores with scoped threads: the rows of
//! the batch for the row-wise steps (projections, FFN, LayerNorm), the heads for
//! attention. (matrixmultiply's own `threading` feature was slower: it splits each
//! product separately and spins between them.)

use crate::EmbedError;
use crate::config::{BertConfig, Pooling};
use crate::math::{add_layer_norm, gelu, gemm_ab, gemm_abt, layer_norm, linear, softmax_rows};
use crate::tokenizer::Encoding;
use crate::weights::{Plan, Weights};

/// One encoder layer's weights; matrices are row-major out×in, as PyTorch stores them.
struct Layer {
    /// Query, key and value projections stacked: 3·hidden × hidden.
    qkv_w: Vec<f32>,
    qkv_b: Vec<f32>,
    attention_out_w: Vec<f32>,
    attention_out_b: Vec<f32>,
    attention_norm_g: Vec<f32>,
    attention_norm_b: Vec<f32>,
    intermediate_w: Vec<f32>,
    intermediate_b: Vec<f32>,
    output_w: Vec<f32>,
    output_b: Vec<f32>,
    output_norm_g: Vec<f32>,
    output_norm_b: Vec<f32>,
}

/// A BERT encoder's weights and shape.
pub(crate) struct Bert {
    hidden: usize,
    heads: usize,
    intermediate: usize,
    eps: f32,
    threads: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    norm_g: Vec<f32>,
    norm_b: Vec<f32>,
    layers: Vec<Layer>,
}

impl Bert {
    /// Reads the weights `plan` names (already checked against `cfg`).
    pub(crate) fn load(
        cfg: &BertConfig,
        weights: &Weights<'_>,
        plan: &Plan,
    ) -> Result<Bert, EmbedError> {
        let get = |name: &str| weights.f32(&plan.name(name));
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let n = plan.layer(i);
            let mut qkv_w = weights.f32(&n.query.0)?;
            qkv_w.extend(weights.f32(&n.key.0)?);
            qkv_w.extend(weights.f32(&n.value.0)?);
            let mut qkv_b = weights.f32(&n.query.1)?;
            qkv_b.extend(weights.f32(&n.key.1)?);
            qkv_b.extend(weights.f32(&n.value.1)?);
            layers.push(Layer {
                qkv_w,
                qkv_b,
                attention_out_w: weights.f32(&n.attention_out.0)?,
                attention_out_b: weights.f32(&n.attention_out.1)?,
                attention_norm_g: weights.f32(&n.attention_norm.0)?,
                attention_norm_b: weights.f32(&n.attention_norm.1)?,
                intermediate_w: weights.f32(&n.intermediate.0)?,
                intermediate_b: weights.f32(&n.intermediate.1)?,
                output_w: weights.f32(&n.output.0)?,
                output_b: weights.f32(&n.output.1)?,
                output_norm_g: weights.f32(&n.output_norm.0)?,
                output_norm_b: weights.f32(&n.output_norm.1)?,
            });
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, cfg.heads);
        Ok(Bert {
            hidden: cfg.hidden,
            heads: cfg.heads,
            intermediate: cfg.intermediate,
            eps: cfg.layer_norm_eps,
            threads,
            word: get("embeddings.word_embeddings.weight")?,
            position: get("embeddings.position_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?,
            norm_g: get("embeddings.LayerNorm.weight")?,
            norm_b: get("embeddings.LayerNorm.bias")?,
            layers,
        })
    }

    /// Runs the encoder over a batch of tokenized texts and pools each text into one
    /// vector (L2-normalised when `normalize`). Ids, types and lengths have been checked
    /// against the model's sizes by the caller.
    pub(crate) fn embed(
        &self,
        batch: &[&Encoding],
        pooling: Pooling,
        normalize: bool,
    ) -> Vec<Vec<f32>> {
        let h = self.hidden;
        let rows: usize = batch.iter().map(|e| e.ids.len()).sum();
        let mut spans = Vec::with_capacity(batch.len());
        let mut x = vec![0.0f32; rows * h];
        let mut start = 0;
        for encoding in batch {
            let n = encoding.ids.len();
            spans.push((start, n));
            let seq_rows = x[start * h..(start + n) * h].chunks_exact_mut(h);
            for (pos, (row, (&id, &ty))) in seq_rows
                .zip(encoding.ids.iter().zip(&encoding.types))
                .enumerate()
            {
                let word = &self.word[id as usize * h..][..h];
                let position = &self.position[pos * h..][..h];
                let token_type = &self.token_type[ty as usize * h..][..h];
                for (((out, &w), &p), &t) in row.iter_mut().zip(word).zip(position).zip(token_type)
                {
                    *out = w + p + t;
                }
            }
            start += n;
        }
        layer_norm(&mut x, &self.norm_g, &self.norm_b, self.eps);

        let mut buffers = Buffers {
            qkv: vec![0.0; rows * 3 * h],
            heads: vec![0.0; rows * h],
            context: vec![0.0; rows * h],
            projected: vec![0.0; rows * h],
            intermediate: vec![0.0; rows * self.intermediate],
        };
        for layer in &self.layers {
            self.layer(layer, &mut x, &spans, rows, &mut buffers);
        }

        spans
            .iter()
            .map(|&(start, n)| {
                let mut v = vec![0.0f32; h];
                match pooling {
                    Pooling::Mean => {
                        for row in x[start * h..(start + n) * h].chunks_exact(h) {
                            for (acc, &r) in v.iter_mut().zip(row) {
                                *acc += r;
                            }
                        }
                        let inv = 1.0 / n.max(1) as f32;
                        v.iter_mut().for_each(|a| *a *= inv);
                    }
                    Pooling::Cls => v.copy_from_slice(&x[start * h..(start + 1) * h]),
                }
                if normalize {
                    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|a| *a /= norm);
                }
                v
            })
            .collect()
    }

    fn layer(
        &self,
        layer: &Layer,
        x: &mut [f32],
        spans: &[(usize, usize)],
        rows: usize,
        b: &mut Buffers,
    ) {
        let h = self.hidden;
        let d = h / self.heads;
        let part = rows.div_ceil(self.threads).max(1);

        // Query, key and value projections, rows shared out between threads.
        self.in_parallel(
            x.chunks(part * h)
                .zip(b.qkv.chunks_mut(part * 3 * h))
                .map(|(x, qkv)| move || linear(x, &layer.qkv_w, &layer.qkv_b, qkv, x.len() / h)),
        );

        // Attention, heads shared out between threads.
        self.attention(&b.qkv, spans, rows, &mut b.heads);

        // Everything after attention works row by row: rows shared out between threads.
        let heads = &b.heads;
        let parts = x
            .chunks_mut(part * h)
            .zip(b.context.chunks_mut(part * h))
            .zip(b.projected.chunks_mut(part * h))
            .zip(b.intermediate.chunks_mut(part * self.intermediate))
            .enumerate()
            .map(|(i, (((x, context), projected), intermediate))| {
                move || {
                    let first = i * part;
                    let n = x.len() / h;
                    // Head-major (head, row, d) back to row-major (row, head·d).
                    for (head, slab) in heads.chunks_exact(rows * d).enumerate() {
                        let slab = &slab[first * d..(first + n) * d];
                        for (row, values) in slab.chunks_exact(d).enumerate() {
                            context[row * h + head * d..][..d].copy_from_slice(values);
                        }
                    }
                    linear(
                        context,
                        &layer.attention_out_w,
                        &layer.attention_out_b,
                        projected,
                        n,
                    );
                    add_layer_norm(
                        x,
                        projected,
                        &layer.attention_norm_g,
                        &layer.attention_norm_b,
                        self.eps,
                    );
                    linear(
                        x,
                        &layer.intermediate_w,
                        &layer.intermediate_b,
                        intermediate,
                        n,
                    );
                    gelu(intermediate);
                    linear(intermediate, &layer.output_w, &layer.output_b, projected, n);
                    add_layer_norm(
                        x,
                        projected,
                        &layer.output_norm_g,
                        &layer.output_norm_b,
                        self.eps,
                    );
                }
            });
        self.in_parallel(parts);
    }

    /// Runs the jobs on threads of their own, the last one on this thread.
    fn in_parallel<F: FnOnce() + Send>(&self, jobs: impl Iterator<Item = F>) {
        let mut jobs: Vec<F> = jobs.collect();
        let Some(last) = jobs.pop() else {
            return;
        };
        if jobs.is_empty() {
            last();
            return;
        }
        std::thread::scope(|scope| {
            for job in jobs {
                scope.spawn(job);
            }
            last();
        });
    }

    /// Multi-head self-attention of every text over its own tokens. `qkv` is rows ×
    /// 3·hidden (queries, keys, values); the result goes to `out` head-major: for each head
    /// a rows × head_dim slab.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], rows: usize, out: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let longest = spans.iter().map(|&(_, n)| n).max().unwrap_or(0);
        let scale = 1.0 / (d as f32).sqrt();
        let one_head = |head: usize, slab: &mut [f32], scores: &mut [f32]| {
            for &(start, n) in spans {
                let base = start * 3 * h + head * d;
                let scores = &mut scores[..n * n];
                gemm_abt(
                    (n, n, d),
                    scale,
                    &qkv[base..],
                    3 * h,
                    &qkv[base + h..],
                    3 * h,
                    0.0,
                    scores,
                    n,
                );
                softmax_rows(scores, n);
                gemm_ab(
                    (n, d, n),
                    1.0,
                    scores,
                    n,
                    &qkv[base + 2 * h..],
                    3 * h,
                    0.0,
                    &mut slab[start * d..(start + n) * d],
                    d,
                );
            }
        };
        // Heads are shared out between threads round-robin.
        let mut groups: Vec<Vec<(usize, &mut [f32])>> =
            (0..self.threads).map(|_| Vec::new()).collect();
        for (head, slab) in out.chunks_exact_mut(rows * d).enumerate() {
            groups[head % self.threads].push((head, slab));
        }
        let one_head = &one_head;
        self.in_parallel(groups.into_iter().map(|group| {
            move || {
                let mut scores = vec![0.0f32; longest * longest];
                for (head, slab) in group {
                    one_head(head, slab, &mut scores);
                }
            }
        }));
    }
}

/// Activations of one batch, allocated once per batch and reused by every layer.
struct Buffers {
    qkv: Vec<f32>,
    heads: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    intermediate: Vec<f32>,
}
