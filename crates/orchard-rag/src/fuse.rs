//! Merging rankings from different searches (keyword and vector) into one.

use std::collections::{HashMap, HashSet};

/// The usual constant for [`rrf`], from the paper that introduced it (Cormack, Clarke and
/// Büttcher, 2009): large enough that the first few ranks of one list do not drown out
/// agreement between lists.
pub const RRF_K: f32 = 60.0;

/// Reciprocal-rank fusion: each id scores `Σ 1 / (k + rank)` over the rankings it appears
/// in (rank 1 being the best of a ranking), and comes back with that score, best first.
///
/// Only ranks matter, not the searches' own scores, so rankings on unrelated scales (BM25,
/// cosine similarity) combine without calibration. An id repeated within one ranking
/// counts there once, at its best rank. Ties keep the order in which the ids first appear
/// when reading the rankings in the order given, each from the top. A `k` that is negative
/// or not a number is treated as 0.
pub fn rrf(rankings: &[Vec<u64>], k: f32) -> Vec<(u64, f32)> {
    // `max` also turns NaN into 0.
    let k = k.max(0.0);
    let mut position: HashMap<u64, usize> = HashMap::new();
    let mut fused: Vec<(u64, f32)> = Vec::new();
    for ranking in rankings {
        let mut counted: HashSet<u64> = HashSet::with_capacity(ranking.len());
        for (index, &id) in ranking.iter().enumerate() {
            if !counted.insert(id) {
                continue;
            }
            // Ranks are small; f32 represents them exactly up to 2^24.
            let score = 1.0 / (k + index as f32 + 1.0);
            match position.get(&id) {
                Some(&at) => {
                    if let Some(entry) = fused.get_mut(at) {
                        entry.1 += score;
                    }
                }
                None => {
                    position.insert(id, fused.len());
                    fused.push((id, score));
                }
            }
        }
    }
    // A stable sort keeps first appearances first among equal scores.
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(fused: &[(u64, f32)]) -> Vec<u64> {
        fused.iter().map(|&(id, _)| id).collect()
    }

    #[test]
    fn scores_are_sums_of_reciprocal_ranks() {
        let fused = rrf(&[vec![1, 2, 3], vec![3, 1]], RRF_K);
        let expected = [
            (1, 1.0 / 61.0 + 1.0 / 62.0),
            (3, 1.0 / 63.0 + 1.0 / 61.0),
            (2, 1.0 / 62.0),
        ];
        assert_eq!(ids(&fused), [1, 3, 2]);
        for ((id, score), (want_id, want)) in fused.iter().zip(expected) {
            assert_eq!(*id, want_id);
            assert!((score - want).abs() < 1e-7, "{id}: {score} != {want}");
        }
    }

    #[test]
    fn agreement_beats_one_top_rank() {
        // 7 is second in both lists; 1 and 2 are first in one each.
        let fused = rrf(&[vec![1, 7, 8], vec![2, 7, 9]], RRF_K);
        assert_eq!(fused.first().map(|&(id, _)| id), Some(7));
    }

    #[test]
    fn ties_keep_first_appearance() {
        let fused = rrf(&[vec![5, 6], vec![6, 5]], RRF_K);
        assert_eq!(ids(&fused), [5, 6]);
        let fused = rrf(&[vec![9], vec![4], vec![2]], RRF_K);
        assert_eq!(ids(&fused), [9, 4, 2]);
        let fused = rrf(&[vec![3, 1], vec![4, 2]], RRF_K);
        assert_eq!(ids(&fused), [3, 4, 1, 2]);
    }

    #[test]
    fn repeats_within_a_ranking_count_once() {
        let fused = rrf(&[vec![1, 1, 2]], RRF_K);
        assert_eq!(ids(&fused), [1, 2]);
        assert!((fused[0].1 - 1.0 / 61.0).abs() < 1e-7);
        assert!((fused[1].1 - 1.0 / 63.0).abs() < 1e-7);
    }

    #[test]
    fn empty_and_odd_inputs() {
        assert!(rrf(&[], RRF_K).is_empty());
        assert!(rrf(&[vec![], vec![]], RRF_K).is_empty());
        for k in [f32::NAN, -5.0] {
            let fused = rrf(&[vec![1, 2]], k);
            assert_eq!(ids(&fused), [1, 2]);
            assert!((fused[0].1 - 1.0).abs() < 1e-7);
        }
        let fused = rrf(&[vec![1, 2]], f32::INFINITY);
        assert_eq!(ids(&fused), [1, 2]);
    }
}
