//! Deterministic fake embeddings.

use serde_json::Value;

use crate::errors::{self, ErrCtx, Rendered};
use crate::provider::Shared;

/// The vector the fake provider returns for `text` with `dims` dimensions,
/// in every protocol: floats seeded from an FNV-1a hash of the UTF-8 text,
/// scaled to unit length. The same text always gives the same vector, and
/// different texts practically always give different ones, so tests can
/// check which input ended up where.
pub fn fake_embedding(text: &str, dims: usize) -> Vec<f32> {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        seed ^= u64::from(*b);
        seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut x = seed | 1;
    let mut values: Vec<f32> = (0..dims)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            // 24 bits fit an f32 mantissa exactly.
            let unit = f32::from(u16::try_from(v >> 8).unwrap_or(0)) * 256.0
                + f32::from(u8::try_from(v & 0xff).unwrap_or(0));
            unit / 8_388_608.0 - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for v in &mut values {
            *v /= norm;
        }
    }
    values
}

/// Standard base64 (with padding) of the little-endian bytes of `values`,
/// as OpenAI sends embeddings for `"encoding_format": "base64"`.
pub(crate) fn base64_f32(values: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Rough token count of a text: one per started group of four characters.
pub(crate) fn tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

/// The dimensions to produce for a batch of `inputs` texts that asked for `asked`
/// (else the fake's default), or the protocol's too-many-inputs error when the batch
/// is over the fake's limit.
pub(crate) fn batch_dims(
    shared: &Shared,
    ctx: &ErrCtx,
    inputs: usize,
    asked: Option<&Value>,
) -> Result<usize, Rendered> {
    let (default_dims, max) = {
        let state = shared.lock();
        (state.embedding_dims, state.max_batch)
    };
    if inputs > max {
        return Err(errors::too_many_inputs(ctx, max));
    }
    Ok(asked
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(default_dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unit_vectors() {
        let a = fake_embedding("hello", 8);
        assert_eq!(a, fake_embedding("hello", 8));
        assert_ne!(a, fake_embedding("hellp", 8));
        assert_eq!(a.len(), 8);
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert!(fake_embedding("x", 0).is_empty());
    }

    #[test]
    fn base64_matches_reference() {
        // 1.0f32 = 00 00 80 3f
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, -2.0]), "AACAPwAAAMA=");
        assert_eq!(base64_f32(&[]), "");
    }
}
