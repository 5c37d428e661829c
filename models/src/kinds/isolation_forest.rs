//! Isolation Forest, written by hand after Liu, Ting & Zhou, "Isolation
//! Forest", ICDM 2008 (and the extended TKDD 2012 paper).
//!
//! Training: each of `n_trees` trees is grown on a subsample of ψ =
//! `sample_size` rows drawn without replacement. A node picks a random
//! feature among those not constant in the node and a split uniformly in
//! [min, max) of that feature; rows with `x <= split` go left. Growth stops
//! at the height limit ⌈log₂ ψ⌉ (overridable with `max_depth`), at one row,
//! or when every feature is constant.
//!
//! Scoring: the path length of a row in a tree is h(x) = e + c(size), with e
//! the depth of the external node reached and `size` the training rows that
//! reached it; c(n) = 2H(n−1) − 2(n−1)/n with H(i) = ln(i) + 0.5772156649,
//! c(1) = 0, and c(2) = 1 (the exact harmonic value, as scikit-learn does).
//! The anomaly score is s = 2^(−E[h(x)] / c(ψ)), in (0, 1]; higher is more
//! anomalous.
//!
//! Layout: the nodes of all trees live in one `Vec<Node>` of 16-byte structs
//! in preorder, each tree contiguous; a leaf stores its precomputed
//! e + c(size). Scoring walks each tree with a loop, no recursion, and a
//! batch is scored tree by tree so one tree stays hot in cache.

use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::config::ParamReader;
use crate::error::ModelError;

/// Parameters `isolation_forest` accepts.
pub(crate) const PARAMS: &str = "n_trees, sample_size, max_depth";

/// Marks a leaf in `Node::feature`.
const LEAF: u32 = u32::MAX;

/// Euler–Mascheroni constant, as in the paper.
const EULER_GAMMA: f64 = 0.577_215_664_9;

/// One node. Internal: `feature`, split `value`, children. Leaf: `feature ==
/// LEAF` and `value` = depth + c(size); children unused (0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    feature: u32,
    value: f32,
    left: u32,
    right: u32,
}

/// A trained forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IsolationForest {
    /// All trees' nodes, each tree contiguous and in preorder.
    nodes: Vec<Node>,
    /// Index of each tree's root in `nodes`, strictly increasing from 0.
    roots: Vec<u32>,
    /// ψ actually used (sample_size capped at the row count).
    psi: u32,
    /// 1 / (n_trees · c(ψ)), derived in `prepare`.
    #[serde(skip)]
    scale: f32,
}

/// Average path length of an unsuccessful BST search among `n` points.
pub(crate) fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    pub(crate) fn train(
        params: &mut ParamReader<'_>,
        x: ArrayView2<'_, f32>,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let n_trees: usize = params.read("n_trees", 100, "an integer in 1..=10000", |n| {
            (1..=10_000).contains(n)
        })?;
        let sample_size: usize = params.read("sample_size", 256, "an integer >= 2", |n| *n >= 2)?;
        let psi = sample_size.min(x.nrows());
        let default_depth = (psi as f64).log2().ceil() as usize;
        let max_depth: usize = params.read_or_else(
            "max_depth",
            || default_depth,
            "an integer in 1..=64",
            |d| (1..=64).contains(d),
        )?;
        if x.nrows() < 2 {
            return Err(ModelError::TooFewRows {
                expected: 2,
                found: x.nrows(),
            });
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut builder = Builder {
            x,
            max_depth,
            rng: &mut rng,
            nodes: Vec::new(),
            features: (0..x.ncols()).collect(),
        };
        let mut roots = Vec::with_capacity(n_trees);
        for _ in 0..n_trees {
            let mut idx = rand::seq::index::sample(builder.rng, x.nrows(), psi).into_vec();
            roots.push(builder.nodes.len() as u32);
            builder.grow(&mut idx, 0);
        }
        let mut forest = Self {
            nodes: builder.nodes,
            roots,
            psi: psi as u32,
            scale: 0.0,
        };
        forest
            .prepare(x.ncols())
            .map_err(|message| ModelError::Training {
                kind: crate::ModelKind::IsolationForest,
                message,
            })?;
        Ok(forest)
    }

    /// Checks every index so scoring cannot go out of bounds or loop: roots
    /// strictly increase from 0, each child index lies after its parent and
    /// inside its tree, features are below `n_features`, values are finite.
    pub(crate) fn prepare(&mut self, n_features: usize) -> Result<(), String> {
        if self.roots.is_empty() {
            return Err("isolation forest has no trees".to_owned());
        }
        if self.psi < 2 {
            return Err(format!("sample size ψ must be >= 2, got {}", self.psi));
        }
        if self.roots[0] != 0 {
            return Err(format!(
                "first tree must start at node 0, got {}",
                self.roots[0]
            ));
        }
        let n = self.nodes.len();
        for (t, &start) in self.roots.iter().enumerate() {
            let start = start as usize;
            let end = self.roots.get(t + 1).map_or(n, |&r| r as usize);
            if start >= end || end > n {
                return Err(format!("tree {t} spans nodes {start}..{end} of {n}"));
            }
            for i in start..end {
                let node = self.nodes[i];
                if !node.value.is_finite() {
                    return Err(format!("node {i} has non-finite value {}", node.value));
                }
                if node.feature == LEAF {
                    continue;
                }
                if node.feature as usize >= n_features {
                    return Err(format!(
                        "node {i} splits on feature {} but there are {n_features}",
                        node.feature
                    ));
                }
                for child in [node.left as usize, node.right as usize] {
                    if child <= i || child >= end {
                        return Err(format!(
                            "node {i} of tree {t} points to child {child}, expected one in {}..{end}",
                            i + 1
                        ));
                    }
                }
            }
        }
        self.scale = (1.0 / (self.roots.len() as f64 * c(self.psi as usize))) as f32;
        Ok(())
    }

    /// Points the first root's right child outside its tree.
    #[cfg(test)]
    pub(crate) fn corrupt_root_for_test(&mut self) {
        if let Some(node) = self.nodes.first_mut() {
            node.right = u32::MAX - 1;
        }
    }

    /// Path length of `row` through the tree rooted at `root`.
    #[inline]
    fn path(&self, root: u32, row: &[f32]) -> f32 {
        let mut i = root as usize;
        loop {
            let node = self.nodes[i];
            if node.feature == LEAF {
                return node.value;
            }
            i = if row[node.feature as usize] <= node.value {
                node.left as usize
            } else {
                node.right as usize
            };
        }
    }

    /// Scores row-major `data` into `out`, one tree at a time.
    pub(crate) fn score_rows(&self, data: &[f32], n_features: usize, out: &mut [f32]) {
        out.fill(0.0);
        if n_features == 0 {
            // Only a forest of leaves can serve zero features.
            for &root in &self.roots {
                let p = self.path(root, &[]);
                out.iter_mut().for_each(|o| *o += p);
            }
        } else {
            for &root in &self.roots {
                for (o, row) in out.iter_mut().zip(data.chunks_exact(n_features)) {
                    *o += self.path(root, row);
                }
            }
        }
        for o in out.iter_mut() {
            *o = (-*o * self.scale).exp2();
        }
    }
}

struct Builder<'a, 'r> {
    x: ArrayView2<'a, f32>,
    max_depth: usize,
    rng: &'r mut Xoshiro256PlusPlus,
    nodes: Vec<Node>,
    features: Vec<usize>,
}

impl Builder<'_, '_> {
    /// Grows the subtree for rows `idx` at `depth`; returns its node index.
    fn grow(&mut self, idx: &mut [usize], depth: usize) -> u32 {
        let me = self.nodes.len() as u32;
        let leaf = Node {
            feature: LEAF,
            value: (depth as f64 + c(idx.len())) as f32,
            left: 0,
            right: 0,
        };
        if depth >= self.max_depth || idx.len() <= 1 {
            self.nodes.push(leaf);
            return me;
        }
        let Some((feature, split)) = self.pick_split(idx) else {
            self.nodes.push(leaf);
            return me;
        };
        self.nodes.push(leaf);
        let mut n_left = 0;
        for k in 0..idx.len() {
            if self.x[[idx[k], feature]] <= split {
                idx.swap(k, n_left);
                n_left += 1;
            }
        }
        let (l, r) = idx.split_at_mut(n_left);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        self.nodes[me as usize] = Node {
            feature: feature as u32,
            value: split,
            left,
            right,
        };
        me
    }

    /// A random non-constant feature and a split uniform in [min, max), or
    /// `None` when every feature is constant over `idx`.
    fn pick_split(&mut self, idx: &[usize]) -> Option<(usize, f32)> {
        let d = self.features.len();
        for k in 0..d {
            let j = self.rng.gen_range(k..d);
            self.features.swap(k, j);
            let f = self.features[k];
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &i in idx {
                let v = self.x[[i, f]];
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi > lo {
                let u: f64 = self.rng.gen_range(0.0..1.0);
                let mut split = (f64::from(lo) + u * (f64::from(hi) - f64::from(lo))) as f32;
                if split >= hi {
                    // Rounding reached the max: keep both sides non-empty.
                    split = lo;
                }
                return Some((f, split));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_path_length_matches_the_paper() {
        assert_eq!(c(1), 0.0);
        assert_eq!(c(2), 1.0);
        // c(256) from the paper's formula: 2(ln 255 + γ) − 2·255/256.
        let expected = 2.0 * (255f64.ln() + 0.5772156649) - 2.0 * 255.0 / 256.0;
        assert!((c(256) - expected).abs() < 1e-12);
        assert!((c(256) - 10.2447).abs() < 1e-3);
    }
}
