//! Evaluation metrics for anomaly scores against labels.

/// Area under the ROC curve of `scores` (higher = more anomalous) against
/// `labels` (`true` = anomaly), via the Mann–Whitney U statistic with tied
/// scores given their average rank. `None` if one class is missing or the
/// lengths differ.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let pos_in_tie = order[i..=j].iter().filter(|k| labels[**k]).count();
        rank_sum_pos += avg_rank * pos_in_tie as f64;
        i = j + 1;
    }
    let p = positives as f64;
    let u = rank_sum_pos - p * (p + 1.0) / 2.0;
    Some(u / (p * negatives as f64))
}

/// Precision, recall and F1 of binary predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionRecallF1 {
    /// TP / (TP + FP), 0 when nothing was predicted positive.
    pub precision: f64,
    /// TP / (TP + FN), 0 when there are no positives.
    pub recall: f64,
    /// Harmonic mean of the two, 0 when both are 0.
    pub f1: f64,
}

/// Precision, recall and F1 of `predicted` against `labels` (pairs beyond
/// the shorter slice are ignored).
pub fn precision_recall_f1(predicted: &[bool], labels: &[bool]) -> PrecisionRecallF1 {
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for (p, l) in predicted.iter().zip(labels) {
        match (p, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => {}
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fneg);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PrecisionRecallF1 {
        precision,
        recall,
        f1,
    }
}

/// Share of `true` in `labels` (0 for an empty slice).
pub fn anomaly_rate(labels: &[bool]) -> f64 {
    if labels.is_empty() {
        0.0
    } else {
        labels.iter().filter(|l| **l).count() as f64 / labels.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_inverted_and_tied_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.5; 4], &labels), Some(0.5));
        // Pairs (pos, neg): (0.5 vs 0.1) win, (0.5 vs 0.5) tie, (0.9, *) win ×2 → 3.5/4.
        assert_eq!(roc_auc(&[0.1, 0.5, 0.5, 0.9], &labels), Some(0.875));
    }

    #[test]
    fn auc_needs_both_classes() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1], &[true, false]), None);
    }

    #[test]
    fn precision_recall_f1_by_hand() {
        let m = precision_recall_f1(&[true, true, false, false], &[true, false, true, false]);
        assert_eq!((m.precision, m.recall, m.f1), (0.5, 0.5, 0.5));
        let none = precision_recall_f1(&[false; 3], &[true, false, false]);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
        assert_eq!(anomaly_rate(&[true, false, false, false]), 0.25);
    }
}
