//! The numeric kernels of the forward pass: matrix products (sgemm), erf and GELU,
//! LayerNorm, softmax.

use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

/// `c ← alpha · a · bᵀ + beta · c`, all row-major with the given row strides:
/// `a` is m×k, `b` is n×k (the layout of a PyTorch `Linear` weight, out×in), `c` is m×n.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_abt(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let a = ArrayView2::from_shape((m, k).strides((lda, 1)), a).expect("gemm: a is too short");
    let b = ArrayView2::from_shape((n, k).strides((ldb, 1)), b).expect("gemm: b is too short");
    let mut c =
        ArrayViewMut2::from_shape((m, n).strides((ldc, 1)), c).expect("gemm: c is too short");
    ndarray::linalg::general_mat_mul(alpha, &a, &b.t(), beta, &mut c);
}

/// `c ← alpha · a · b + beta · c`, all row-major with the given row strides:
/// `a` is m×k, `b` is k×n, `c` is m×n.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_ab(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let a = ArrayView2::from_shape((m, k).strides((lda, 1)), a).expect("gemm: a is too short");
    let b = ArrayView2::from_shape((k, n).strides((ldb, 1)), b).expect("gemm: b is too short");
    let mut c =
        ArrayViewMut2::from_shape((m, n).strides((ldc, 1)), c).expect("gemm: c is too short");
    ndarray::linalg::general_mat_mul(alpha, &a, &b, beta, &mut c);
}

/// `out ← x · wᵀ + bias` for a PyTorch `Linear` layer: `x` is rows×inputs, `w` is
/// outputs×inputs, `out` is rows×outputs.
pub(crate) fn linear(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32], rows: usize) {
    let outputs = bias.len();
    let inputs = w.len() / outputs;
    for row in out[..rows * outputs].chunks_exact_mut(outputs) {
        row.copy_from_slice(bias);
    }
    gemm_abt(
        (rows, outputs, inputs),
        1.0,
        x,
        inputs,
        w,
        inputs,
        1.0,
        out,
        outputs,
    );
}

// erf(x) ≈ x·P(x²)/Q(x²) on [-4, 4], a rational fit made for this crate (weighted least
// squares iterated towards minimax against Python's math.erf on 20 000 Chebyshev-spaced
// points). Largest error over the whole real line, clamp included, is 1.2e-8 in f64
// (erf(4) = 1 - 1.5e-8), so below 1e-7 even after rounding to f32.
const ERF_P: [f64; 7] = [
    1.128_379_172_168_415_8,
    0.185_191_494_804_659_85,
    0.054_226_783_029_382_16,
    0.003_837_263_718_219_169,
    0.000_375_710_514_151_711_46,
    4.582_991_709_101_127e-6,
    -1.268_235_595_575_947_2e-8,
];
const ERF_Q: [f64; 6] = [
    1.0,
    0.497_455_117_053_552_4,
    0.113_875_081_593_592_26,
    0.015_424_334_365_042_87,
    0.001_299_747_357_442_199_5,
    6.213_734_590_820_115e-5,
];

/// The error function, with an absolute error below 2e-8 everywhere.
pub(crate) fn erf(x: f64) -> f64 {
    let x = x.clamp(-4.0, 4.0);
    let t = x * x;
    let p = ERF_P.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let q = ERF_Q.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    x * p / q
}

/// Exact (erf-based) GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, in place.
pub(crate) fn gelu(xs: &mut [f32]) {
    for x in xs {
        let v = f64::from(*x);
        *x = (0.5 * v * (1.0 + erf(v * std::f64::consts::FRAC_1_SQRT_2))) as f32;
    }
}

/// LayerNorm of each row of `x` (rows of `gamma.len()` values), in place:
/// `(x - mean) / sqrt(var + eps) · gamma + beta`, with the biased variance, as PyTorch.
pub(crate) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    for row in x.chunks_exact_mut(width) {
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / width as f64;
        let var = row
            .iter()
            .map(|&v| {
                let d = f64::from(v) - mean;
                d * d
            })
            .sum::<f64>()
            / width as f64;
        let inv = 1.0 / (var + f64::from(eps)).sqrt();
        let (mean, inv) = (mean as f32, inv as f32);
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `x ← LayerNorm(x + y)` row by row.
pub(crate) fn add_layer_norm(x: &mut [f32], y: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
    layer_norm(x, gamma, beta, eps);
}

/// Softmax of each row of an n×n matrix stored with row stride `n`, in place.
pub(crate) fn softmax_rows(scores: &mut [f32], n: usize) {
    for row in scores.chunks_exact_mut(n) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // erf(x) from Python's math.erf (correctly rounded double precision).
    const ERF_REFERENCE: [(f64, f64); 12] = [
        (0.0, 0.0),
        (1e-5, 1.1283791670579e-05),
        (0.1, 0.1124629160182849),
        (0.5, 0.5204998778130465),
        (0.8, 0.7421009647076605),
        (1.0, 0.8427007929497149),
        (1.5, 0.9661051464753108),
        (2.0, 0.9953222650189527),
        (2.5, 0.999593047982555),
        (3.0, 0.9999779095030014),
        (3.9, 0.9999999652077514),
        (6.0, 1.0),
    ];

    #[test]
    fn erf_matches_reference_values_within_2e8() {
        for (x, want) in ERF_REFERENCE {
            assert!(
                (erf(x) - want).abs() < 2e-8,
                "erf({x}) = {} not {want}",
                erf(x)
            );
            assert!((erf(-x) + want).abs() < 2e-8, "erf is odd at {x}");
        }
        assert!((erf(f64::INFINITY) - 1.0).abs() < 2e-8);
        assert!((erf(f64::NEG_INFINITY) + 1.0).abs() < 2e-8);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn erf_is_monotonic_and_bounded_on_a_fine_grid() {
        let mut last = -1.0;
        for i in -60_000..=60_000 {
            let y = erf(f64::from(i) * 1e-4);
            assert!(y >= last - 1e-12 && y.abs() <= 1.0 + 1e-12, "at {i}");
            last = y;
        }
    }

    #[test]
    fn gelu_is_exact_gelu() {
        // x·Φ(x) from Python: x * 0.5 * (1 + math.erf(x / math.sqrt(2))).
        let mut xs = [-3.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 10.0];
        let want = [
            -0.004049694,
            -0.15865526,
            -0.15426877,
            0.0,
            0.34573123,
            0.8413447,
            1.9544997,
            10.0,
        ];
        gelu(&mut xs);
        for (got, want) in xs.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn layer_norm_centres_and_scales_each_row() {
        let mut x = [1.0f32, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0];
        layer_norm(&mut x, &[1.0, 1.0, 2.0, 1.0], &[0.0, 0.0, 0.0, 0.5], 1e-12);
        // Row 1: mean 2.5, variance 1.25.
        let s = 1.25f32.sqrt();
        let want = [-1.5 / s, -0.5 / s, 2.0 * 0.5 / s, 1.5 / s + 0.5];
        for (got, want) in x[..4].iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // A constant row becomes beta.
        assert_eq!(&x[4..], &[0.0, 0.0, 0.0, 0.5]);
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let mut s = [1.0f32, 2.0, 3.0, 1000.0, 1000.0, -1000.0, 0.0, 0.0, 0.0];
        softmax_rows(&mut s, 3);
        for row in s.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert!((s[3] - 0.5).abs() < 1e-6 && s[5] == 0.0);
        assert!((s[2] - 0.66524096).abs() < 1e-6);
    }

    #[test]
    fn gemm_handles_strided_and_transposed_operands() {
        // a = [[1,2],[3,4]] stored with row stride 3; b (n×k) = [[1,0],[1,1],[0,2]].
        let a = [1.0, 2.0, 9.0, 3.0, 4.0, 9.0];
        let b = [1.0, 0.0, 1.0, 1.0, 0.0, 2.0];
        let mut c = [0.0f32; 6];
        gemm_abt((2, 3, 2), 1.0, &a, 3, &b, 2, 0.0, &mut c, 3);
        assert_eq!(c, [1.0, 3.0, 4.0, 3.0, 7.0, 8.0]);
        let bt = [1.0, 1.0, 0.0, 0.0, 1.0, 2.0]; // b transposed, k×n
        let mut c2 = [1.0f32; 6];
        gemm_ab((2, 3, 2), 2.0, &a, 3, &bt, 3, 1.0, &mut c2, 3);
        assert_eq!(c2, [3.0, 7.0, 9.0, 7.0, 15.0, 17.0]);
    }
}
