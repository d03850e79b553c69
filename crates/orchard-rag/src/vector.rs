//! Nearest-neighbour search over embeddings, behind one trait ([`VectorIndex`]).
//!
//! [`build`] picks the index: [`ExactIndex`] (every vector compared, exact) for up to
//! [`EXACT_UP_TO`] vectors, [`IvfIndex`] (vectors grouped by k-means, only the groups
//! nearest the query compared) above that. Similarity is cosine: vectors are normalised
//! when they go in, so it is a dot product at search time.
//!
//! Vectors that cannot be compared (a length other than the index's dimensions, all
//! zeros, a NaN or infinite component) are left out, not refused: [`VectorIndex::len`]
//! says how many went in, so a caller can count the rest. Queries like that find nothing.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::num::NonZero;
use std::thread;

/// A searchable set of vectors, each with a caller-chosen id.
pub trait VectorIndex: Send + Sync {
    /// How many vectors the index holds.
    fn len(&self) -> usize;

    /// Whether the index holds no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The length every vector has.
    fn dims(&self) -> usize;

    /// The `k` vectors most similar to `query` (at most [`VectorIndex::len`]), as (id,
    /// cosine similarity), best first; equal similarities in a fixed order.
    ///
    /// Empty when `k` is 0 or the query cannot be compared (wrong length, all zeros, NaN
    /// or infinite components). `query` need not be normalised.
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)>;
}

/// Up to this many vectors [`build`] makes an [`ExactIndex`]; above it an [`IvfIndex`].
///
/// Comparing 20,000 vectors of 384 dimensions takes a few milliseconds, still within a
/// query's budget; beyond that the approximate index keeps search time nearly flat.
pub const EXACT_UP_TO: usize = 20_000;

/// An index for `items` (id, vector) of `dims` dimensions: exact up to [`EXACT_UP_TO`]
/// usable vectors, approximate ([`IvfIndex`] with [`IvfParams::default`]) above.
///
/// Vectors of another length, all-zero vectors and vectors with NaN or infinite
/// components are skipped; `items.len() - index.len()` is how many. Ids are not checked
/// for uniqueness: a repeated id is simply found twice.
pub fn build(dims: usize, items: Vec<(u64, Vec<f32>)>) -> Box<dyn VectorIndex> {
    let vectors = Vectors::new(dims, items);
    if vectors.len() <= EXACT_UP_TO {
        Box::new(ExactIndex { vectors })
    } else {
        Box::new(IvfIndex::from_vectors(vectors, &IvfParams::default()))
    }
}

/// Exact search: the query is compared with every vector.
///
/// Time grows with the number of vectors (about 1 ms per 10,000 vectors of 384
/// dimensions on one core, bounded by memory bandwidth); results are exact.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    vectors: Vectors,
}

impl ExactIndex {
    /// An exact index of `items`; unusable vectors are skipped as in [`build`].
    pub fn new(dims: usize, items: Vec<(u64, Vec<f32>)>) -> Self {
        Self {
            vectors: Vectors::new(dims, items),
        }
    }
}

impl VectorIndex for ExactIndex {
    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn dims(&self) -> usize {
        self.vectors.dims
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let Some(query) = normalised(query, self.vectors.dims) else {
            return Vec::new();
        };
        let mut top = TopK::new(k, self.len());
        for (pos, row) in self.vectors.rows().enumerate() {
            top.offer(dot(row, &query), pos);
        }
        top.into_results(&self.vectors.ids)
    }
}

/// How an [`IvfIndex`] is built and searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// How many lists (k-means clusters) the vectors are divided into; 0 for the square
    /// root of their number.
    pub lists: usize,
    /// How many of the lists nearest a query are searched; 0 for the default
    /// ([`IvfIndex::default_nprobe`]). More finds more of the true nearest neighbours and
    /// takes longer.
    pub nprobe: usize,
    /// The most k-means (Lloyd) iterations; they stop early once no vector changes list.
    pub iterations: usize,
    /// How many vectors per list k-means learns from (a sample, for speed). A larger
    /// sample with fewer iterations gave better lists for the same build time than the
    /// reverse on clustered data.
    pub sample_per_list: usize,
    /// The seed of the sample and the starting centroids; the same seed and vectors give
    /// the same index.
    pub seed: u64,
}

impl Default for IvfParams {
    fn default() -> Self {
        Self {
            lists: 0,
            nprobe: 0,
            iterations: 6,
            sample_per_list: 96,
            seed: 0x5EED_0F0C_4A7D,
        }
    }
}

/// Approximate search for large sets: an inverted-file index.
///
/// Building runs spherical k-means (a few Lloyd iterations on a seeded sample) to divide
/// the vectors into about `sqrt(n)` lists, each stored contiguously; a search ranks the
/// lists by their centroid's similarity to the query and compares the query exactly with
/// every vector in the `nprobe` nearest lists (more if those hold fewer than `k`
/// vectors). A true neighbour that k-means put in a list further away is missed, which
/// is why results are approximate; the similarities returned are exact.
///
/// Builds are deterministic for the same vectors and [`IvfParams`], and use all the
/// machine's cores (up to 8): for 100,000 vectors of 384 dimensions about 5 seconds of
/// CPU time, so build on a blocking thread and keep the index rather than rebuilding it
/// per query.
#[derive(Debug, Clone)]
pub struct IvfIndex {
    dims: usize,
    /// One normalised centroid per list, `dims` values each.
    centroids: Vec<f32>,
    /// List `l` holds positions `offsets[l]..offsets[l + 1]` of `vectors`.
    offsets: Vec<usize>,
    /// The vectors, ordered by list.
    vectors: Vectors,
    nprobe: usize,
}

impl IvfIndex {
    /// An approximate index of `items` with [`IvfParams::default`]; unusable vectors are
    /// skipped as in [`build`].
    pub fn new(dims: usize, items: Vec<(u64, Vec<f32>)>) -> Self {
        Self::with_params(dims, items, &IvfParams::default())
    }

    /// An approximate index of `items` built with `params`.
    pub fn with_params(dims: usize, items: Vec<(u64, Vec<f32>)>, params: &IvfParams) -> Self {
        Self::from_vectors(Vectors::new(dims, items), params)
    }

    /// How many lists the vectors are divided into.
    pub fn lists(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// How many lists a search compares.
    pub fn nprobe(&self) -> usize {
        self.nprobe
    }

    /// Sets how many lists a search compares (at least 1, at most all of them).
    pub fn set_nprobe(&mut self, nprobe: usize) {
        self.nprobe = nprobe.clamp(1, self.lists().max(1));
    }

    /// The default number of lists searched for an index with `lists` lists: a tenth of
    /// them, at least 8, so about a tenth of the vectors are compared. On synthetic
    /// clustered data (384 dimensions, 50 vectors per cluster) it finds 97% of the exact
    /// top 10 at 100,000 vectors and all of it at 30,000 (see `benches/retrieval.rs`).
    pub fn default_nprobe(lists: usize) -> usize {
        lists.div_ceil(10).max(8).min(lists.max(1))
    }

    fn from_vectors(vectors: Vectors, params: &IvfParams) -> Self {
        let dims = vectors.dims;
        let n = vectors.len();
        if n == 0 || dims == 0 {
            return Self {
                dims,
                centroids: Vec::new(),
                offsets: vec![0],
                vectors,
                nprobe: 1,
            };
        }
        let lists = match params.lists {
            // The square root of a usize is well inside f64's exact integers.
            0 => ((n as f64).sqrt().round() as usize).max(1),
            lists => lists,
        }
        .min(n);
        let centroids = kmeans(&vectors, lists, params);

        // Counting sort of the vectors by their nearest centroid.
        let nearest = nearest_all(&vectors.data, dims, &centroids);
        let mut offsets = vec![0; lists + 1];
        for &list in &nearest {
            if let Some(count) = offsets.get_mut(list + 1) {
                *count += 1;
            }
        }
        for l in 0..lists {
            offsets[l + 1] += offsets[l];
        }
        let mut next = offsets.clone();
        let mut order = vec![0; n];
        for (pos, &list) in nearest.iter().enumerate() {
            if let Some(slot) = next.get_mut(list) {
                if let Some(target) = order.get_mut(*slot) {
                    *target = pos;
                }
                *slot += 1;
            }
        }
        let mut ids = Vec::with_capacity(n);
        let mut data = Vec::with_capacity(n * dims);
        for &pos in &order {
            if let Some(&id) = vectors.ids.get(pos) {
                ids.push(id);
                data.extend_from_slice(vectors.row(pos));
            }
        }
        let nprobe = match params.nprobe {
            0 => Self::default_nprobe(lists),
            nprobe => nprobe.clamp(1, lists),
        };
        Self {
            dims,
            centroids,
            offsets,
            vectors: Vectors { dims, ids, data },
            nprobe,
        }
    }
}

impl VectorIndex for IvfIndex {
    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let Some(query) = normalised(query, self.dims) else {
            return Vec::new();
        };
        let mut lists: Vec<(f32, usize)> = self
            .centroids
            .chunks_exact(self.dims)
            .enumerate()
            .map(|(list, centroid)| (dot(centroid, &query), list))
            .collect();
        lists.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));

        let mut top = TopK::new(k, self.len());
        for (probed, &(_, list)) in lists.iter().enumerate() {
            if probed >= self.nprobe && top.is_full() {
                break;
            }
            let start = self.offsets.get(list).copied().unwrap_or(0);
            let end = self.offsets.get(list + 1).copied().unwrap_or(start);
            for pos in start..end {
                top.offer(dot(self.vectors.row(pos), &query), pos);
            }
        }
        top.into_results(&self.vectors.ids)
    }
}

/// Normalised vectors with their ids, stored contiguously.
#[derive(Debug, Clone)]
struct Vectors {
    dims: usize,
    ids: Vec<u64>,
    /// `ids.len() * dims` values, row after row.
    data: Vec<f32>,
}

impl Vectors {
    /// The usable vectors of `items`, normalised.
    fn new(dims: usize, items: Vec<(u64, Vec<f32>)>) -> Self {
        // Reserve only for vectors that exist: a wild `dims` must not allocate.
        let fitting = items.iter().filter(|(_, v)| v.len() == dims).count();
        let mut ids = Vec::with_capacity(fitting);
        let mut data = Vec::with_capacity(fitting * dims);
        for (id, vector) in items {
            if let Some(norm) = norm(&vector, dims) {
                ids.push(id);
                // Through f64 so that huge or tiny components neither overflow nor vanish.
                data.extend(vector.iter().map(|&x| (f64::from(x) / norm) as f32));
            }
        }
        Self { dims, ids, data }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn row(&self, pos: usize) -> &[f32] {
        let start = pos.saturating_mul(self.dims);
        self.data
            .get(start..start.saturating_add(self.dims))
            .unwrap_or_default()
    }

    fn rows(&self) -> impl Iterator<Item = &[f32]> {
        // `chunks_exact` refuses 0; an index of 0 dimensions holds nothing anyway.
        self.data.chunks_exact(self.dims.max(1))
    }
}

/// The Euclidean norm of a vector that can be compared: `dims` long, finite, not zero.
fn norm(vector: &[f32], dims: usize) -> Option<f64> {
    if dims == 0 || vector.len() != dims {
        return None;
    }
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    (norm.is_finite() && norm > 0.0).then_some(norm)
}

/// `vector` scaled to length 1, if it can be compared.
fn normalised(vector: &[f32], dims: usize) -> Option<Vec<f32>> {
    let norm = norm(vector, dims)?;
    Some(
        vector
            .iter()
            .map(|&x| (f64::from(x) / norm) as f32)
            .collect(),
    )
}

/// The dot product of two equally long slices.
///
/// Eight independent sums let the compiler use SIMD registers without reordering a
/// single floating-point sum, which it may not do on its own.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_rest) = a.as_chunks::<8>();
    let (b_chunks, b_rest) = b.as_chunks::<8>();
    let mut s = [0.0_f32; 8];
    // Written out (not a loop over the lanes) so unoptimised test builds stay quick too.
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
        s[4] += x[4] * y[4];
        s[5] += x[5] * y[5];
        s[6] += x[6] * y[6];
        s[7] += x[7] * y[7];
    }
    let mut total = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (p, q) in a_rest.iter().zip(b_rest) {
        total += p * q;
    }
    total
}

/// A candidate result: its similarity and its position in the index.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    pos: usize,
}

impl Ord for Candidate {
    /// "Greater" is worse: lower similarity, or the same similarity at a later position.
    /// The heap's top is then the worst result kept.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.pos.cmp(&other.pos))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The best `k` candidates offered, in a heap bounded to `k`.
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
    /// The worst score kept once the heap is full; most candidates fail this test.
    floor: f32,
}

impl TopK {
    /// Room for `k` results out of `available` candidates.
    fn new(k: usize, available: usize) -> Self {
        let k = k.min(available);
        Self {
            k,
            heap: BinaryHeap::with_capacity(k),
            floor: f32::NEG_INFINITY,
        }
    }

    fn is_full(&self) -> bool {
        self.heap.len() >= self.k
    }

    #[inline]
    fn offer(&mut self, score: f32, pos: usize) {
        if self.heap.len() < self.k {
            self.heap.push(Candidate { score, pos });
        } else if score > self.floor {
            if let Some(mut worst) = self.heap.peek_mut() {
                *worst = Candidate { score, pos };
            }
        } else {
            return;
        }
        if self.is_full() {
            self.floor = self.heap.peek().map_or(f32::NEG_INFINITY, |c| c.score);
        }
    }

    /// The results, best first, with positions turned into ids.
    fn into_results(self, ids: &[u64]) -> Vec<(u64, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .filter_map(|c| Some((*ids.get(c.pos)?, c.score.clamp(-1.0, 1.0))))
            .collect()
    }
}

/// A small, fast, seeded pseudo-random generator (xorshift64*); not for secrets.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // SplitMix64 of the seed, so that similar seeds start far apart; never 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        // The modulo bias is irrelevant for sampling.
        (self.next() % (n.max(1) as u64)) as usize
    }
}

/// Spherical k-means on a sample of `vectors`: `lists` normalised centroids.
fn kmeans(vectors: &Vectors, lists: usize, params: &IvfParams) -> Vec<f32> {
    let dims = vectors.dims;
    let n = vectors.len();
    let mut rng = XorShift::new(params.seed);

    // A partial Fisher-Yates shuffle picks the sample.
    let sample_size = lists
        .saturating_mul(params.sample_per_list.max(1))
        .clamp(lists, n);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..sample_size {
        let j = i + rng.below(n - i);
        order.swap(i, j);
    }
    let mut sample = Vec::with_capacity(sample_size * dims);
    for &pos in order.iter().take(sample_size) {
        sample.extend_from_slice(vectors.row(pos));
    }
    // The sample is in random order: its first rows are random starting centroids.
    let mut centroids = sample.get(..lists * dims).unwrap_or_default().to_vec();

    let mut assigned: Vec<usize> = Vec::new();
    for _ in 0..params.iterations {
        let nearest = nearest_all(&sample, dims, &centroids);
        if nearest == assigned {
            break;
        }
        assigned = nearest;
        let mut sums = vec![0.0_f32; lists * dims];
        let mut counts = vec![0_usize; lists];
        for (row, &list) in sample.chunks_exact(dims).zip(&assigned) {
            if let Some(sum) = sums.get_mut(list * dims..(list + 1) * dims) {
                for (s, x) in sum.iter_mut().zip(row) {
                    *s += x;
                }
            }
            if let Some(count) = counts.get_mut(list) {
                *count += 1;
            }
        }
        for (list, sum) in sums.chunks_exact(dims).enumerate() {
            let centroid = match normalised(sum, dims) {
                Some(mean) if counts.get(list).is_some_and(|&c| c > 0) => mean,
                // An empty list restarts at a random sample vector.
                _ => {
                    let pos = rng.below(sample_size);
                    sample
                        .get(pos * dims..(pos + 1) * dims)
                        .unwrap_or_default()
                        .to_vec()
                }
            };
            if let Some(slot) = centroids.get_mut(list * dims..(list + 1) * dims)
                && centroid.len() == dims
            {
                slot.copy_from_slice(&centroid);
            }
        }
    }
    centroids
}

/// For each row of `data`, the index of the centroid with the largest dot product (the
/// first of equals).
fn nearest_all(data: &[f32], dims: usize, centroids: &[f32]) -> Vec<usize> {
    map_rows(data, dims, centroids.len(), |row| {
        let mut best = (f32::NEG_INFINITY, 0);
        for (list, centroid) in centroids.chunks_exact(dims.max(1)).enumerate() {
            let score = dot(row, centroid);
            if score > best.0 {
                best = (score, list);
            }
        }
        best.1
    })
}

/// `f` of each `dims`-long row of `data`, in order, computed on several threads (up to 8)
/// when there is enough work: `work_per_row` multiply-adds per row.
fn map_rows<T: Send>(
    data: &[f32],
    dims: usize,
    work_per_row: usize,
    f: impl Fn(&[f32]) -> T + Sync,
) -> Vec<T> {
    let dims = dims.max(1);
    let rows = data.len() / dims;
    let map_part = |part: &[f32]| -> Vec<T> { part.chunks_exact(dims).map(&f).collect() };
    // Below a few million multiply-adds, starting threads costs more than it saves.
    let threads = if rows.saturating_mul(work_per_row) < (1 << 22) {
        1
    } else {
        thread::available_parallelism()
            .map_or(1, NonZero::get)
            .min(8)
    };
    if threads <= 1 {
        return map_part(data);
    }
    let part_rows = rows.div_ceil(threads).max(1);
    thread::scope(|scope| {
        let map_part = &map_part;
        let parts: Vec<_> = data
            .chunks(part_rows * dims)
            .map(|part| {
                let spawned = thread::Builder::new().spawn_scoped(scope, move || map_part(part));
                (part, spawned)
            })
            .collect();
        let mut out = Vec::with_capacity(rows);
        for (part, spawned) in parts {
            // A thread that could not start (or failed) leaves its part to this one.
            match spawned.ok().and_then(|handle| handle.join().ok()) {
                Some(mapped) => out.extend(mapped),
                None => out.extend(map_part(part)),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` vectors around `clusters` random centres, roughly like sentence embeddings:
    /// vectors of a cluster have a cosine similarity near 0.5, of different clusters near
    /// 0. Queries are the last vectors of a larger `n` (same seed, same centres).
    fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = XorShift::new(seed);
        let mut gauss = move || {
            // Sum of four uniforms: close enough to a normal distribution here.
            let sum: f32 = (0..4)
                .map(|_| (rng.next() >> 40) as f32 / (1u64 << 24) as f32)
                .sum();
            (sum - 2.0) * 1.732
        };
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dims).map(|_| gauss()).collect())
            .collect();
        (0..n)
            .map(|i| {
                let centre = &centres[(i * 7919) % clusters];
                centre.iter().map(|&c| c + gauss()).collect()
            })
            .collect()
    }

    fn naive(items: &[(u64, Vec<f32>)], query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let length = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut scored: Vec<(u64, f32)> = items
            .iter()
            .map(|(id, v)| {
                let dot: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
                (*id, dot / (length(v) * length(query)))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored
    }

    fn with_ids(vectors: Vec<Vec<f32>>) -> Vec<(u64, Vec<f32>)> {
        (0..).zip(vectors).map(|(id, v)| (id * 3 + 1, v)).collect()
    }

    #[test]
    fn exact_matches_a_naive_search() {
        let vectors = clustered(600, 37, 12, 1);
        let items = with_ids(vectors);
        let index = ExactIndex::new(37, items.clone());
        assert_eq!(index.len(), 600);
        assert_eq!(index.dims(), 37);
        for query in clustered(10, 37, 5, 2) {
            let got = index.search(&query, 10);
            let want = naive(&items, &query, 10);
            assert_eq!(got.len(), 10);
            for ((id, score), (want_id, want_score)) in got.iter().zip(&want) {
                assert!((score - want_score).abs() < 1e-4, "{score} vs {want_score}");
                // Ids may differ only between near-equal scores.
                if id != want_id {
                    assert!((score - want_score).abs() < 1e-5);
                }
            }
            assert!(got.windows(2).all(|pair| pair[0].1 >= pair[1].1));
        }
    }

    #[test]
    fn dot_handles_every_length() {
        for len in 0..40 {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32 * 0.25).collect();
            let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - want).abs() < 1e-3, "{len}");
        }
    }

    #[test]
    fn k_larger_than_the_index_returns_everything() {
        let items = with_ids(clustered(30, 8, 3, 3));
        let query = items[0].1.clone();
        for index in [
            build(8, items.clone()),
            Box::new(IvfIndex::new(8, items.clone())) as Box<dyn VectorIndex>,
        ] {
            let got = index.search(&query, 100);
            assert_eq!(got.len(), 30);
            assert_eq!(got[0].0, items[0].0);
            assert!((got[0].1 - 1.0).abs() < 1e-5);
            assert!(index.search(&query, 0).is_empty());
            assert_eq!(index.search(&query, usize::MAX).len(), 30);
        }
    }

    #[test]
    fn empty_indexes_find_nothing() {
        for index in [
            build(4, Vec::new()),
            build(0, vec![(1, Vec::new())]),
            Box::new(IvfIndex::new(4, Vec::new())) as Box<dyn VectorIndex>,
            Box::new(IvfIndex::new(0, vec![(1, Vec::new())])),
        ] {
            assert!(index.is_empty());
            assert!(index.search(&[1.0, 0.0, 0.0, 0.0], 5).is_empty());
            assert!(index.search(&[], 5).is_empty());
        }
    }

    #[test]
    fn unusable_vectors_and_queries_are_skipped() {
        let items = vec![
            (1, vec![1.0, 0.0, 0.0]),
            (2, vec![0.0, 0.0, 0.0]),
            (3, vec![1.0, 2.0]),
            (4, vec![f32::NAN, 1.0, 0.0]),
            (5, vec![f32::INFINITY, 1.0, 0.0]),
            (6, vec![f32::MAX, f32::MAX, 0.0]),
            (7, vec![1e-45, 0.0, 0.0]),
        ];
        let index = build(3, items.clone());
        assert_eq!(index.len(), 3, "1, 6 and 7 are usable");
        let got = index.search(&[2.0, 0.0, 0.0], 5);
        let ids: Vec<u64> = got.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, [1, 7, 6]);
        assert!((got[0].1 - 1.0).abs() < 1e-6);
        assert!((got[2].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        for query in [
            vec![0.0, 0.0, 0.0],
            vec![1.0, 0.0],
            vec![f32::NAN, 0.0, 0.0],
        ] {
            assert!(index.search(&query, 5).is_empty(), "{query:?}");
        }
        let ivf = IvfIndex::new(3, items);
        assert_eq!(ivf.len(), 3);
        assert_eq!(ivf.search(&[2.0, 0.0, 0.0], 1)[0].0, 1);
    }

    #[test]
    fn build_picks_by_size() {
        let small = build(2, vec![(1, vec![1.0, 0.0])]);
        assert_eq!(small.len(), 1);
        assert_eq!(small.dims(), 2);
    }

    #[test]
    fn ivf_recall_against_exact() {
        // Debug builds are slow: this size keeps the test around a second while still
        // giving k-means real work. The benchmark measures recall at 100,000 vectors.
        let dims = 384;
        let mut data = clustered(5_050, dims, 100, 4);
        let queries = data.split_off(5_000);
        let items = with_ids(data);
        let exact = ExactIndex::new(dims, items.clone());
        let ivf = IvfIndex::new(dims, items);
        assert_eq!(ivf.len(), 5_000);
        assert_eq!(ivf.lists(), 71);
        let mut found = 0;
        let mut total = 0;
        for query in queries {
            let want: Vec<u64> = exact.search(&query, 10).iter().map(|r| r.0).collect();
            let got = ivf.search(&query, 10);
            assert_eq!(got.len(), 10);
            found += got.iter().filter(|r| want.contains(&r.0)).count();
            total += want.len();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
    }

    #[test]
    fn ivf_builds_are_deterministic() {
        let items = with_ids(clustered(2_000, 16, 30, 7));
        let one = IvfIndex::new(16, items.clone());
        let two = IvfIndex::new(16, items);
        assert_eq!(one.centroids, two.centroids);
        assert_eq!(one.offsets, two.offsets);
        assert_eq!(one.vectors.ids, two.vectors.ids);
        let other_seed = IvfParams {
            seed: 1,
            ..IvfParams::default()
        };
        let three = IvfIndex::with_params(16, with_ids(clustered(2_000, 16, 30, 7)), &other_seed);
        assert_ne!(one.centroids, three.centroids);
    }

    #[test]
    fn nprobe_is_clamped() {
        let mut ivf = IvfIndex::new(4, with_ids(clustered(100, 4, 5, 6)));
        assert_eq!(ivf.lists(), 10);
        assert_eq!(ivf.nprobe(), 8);
        ivf.set_nprobe(0);
        assert_eq!(ivf.nprobe(), 1);
        ivf.set_nprobe(1_000);
        assert_eq!(ivf.nprobe(), 10);
        // Probing every list is exact.
        let exact = ExactIndex::new(4, with_ids(clustered(100, 4, 5, 6)));
        let query = [0.3, -1.0, 2.0, 0.5];
        assert_eq!(ivf.search(&query, 7), exact.search(&query, 7));
    }

    #[test]
    fn rng_is_seeded() {
        let a: Vec<u64> = {
            let mut rng = XorShift::new(0);
            (0..4).map(|_| rng.next()).collect()
        };
        let b: Vec<u64> = {
            let mut rng = XorShift::new(0);
            (0..4).map(|_| rng.next()).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| x != 0));
        let mut rng = XorShift::new(1);
        assert!((0..1000).all(|_| rng.below(7) < 7));
    }
}
