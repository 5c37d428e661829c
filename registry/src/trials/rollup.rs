//! Per-minute rollups of comparison records (pure): everything the report
//! reads, folded as records are stored, mergeable by addition. Counts and
//! sums are exact; latencies and scores are HDR histograms
//! (`hdrhistogram`, 3 significant digits: a value read back is within
//! 0.1 % of one recorded in its bucket). Scores are kept as fixed-point
//! magnitudes (2⁻²⁰ resolution) in one histogram per sign, so a score read
//! back is within 0.1 % + 1e-6 of a recorded one. See docs/trials.md.
//!
//! The stored form is versioned little-endian: a version byte, the counts,
//! then each histogram in HDR V2 form with a length prefix.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

use crate::error::{RegistryError, Result};
use crate::trials::domain::{Arm, ArmResult, ComparisonRecord, Period};
use crate::trials::gates::ArmCounts;
use crate::trials::sample::Sample;

const VERSION: u8 = 1;
/// Significant digits of every histogram.
pub const SIGFIG: u8 = 3;
/// Fixed-point scale of score magnitudes.
const SCORE_SCALE: f64 = (1u64 << 20) as f64;
/// Largest stored key (scores beyond ±2⁴² are clamped).
const MAX_KEY: u64 = 1 << 62;

#[allow(clippy::expect_used)]
fn histogram() -> Histogram<u64> {
    // Fails only for significant digits outside 0..=5; SIGFIG is 3.
    Histogram::new(SIGFIG).expect("3 significant digits are supported")
}

/// Latencies (µs) of successful requests.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(histogram())
    }
}

impl Latencies {
    pub fn record(&mut self, us: u64) {
        record(&mut self.0, us);
    }
    fn merge(&mut self, o: &Latencies) -> Result<()> {
        self.0
            .add(&o.0)
            .map_err(|e| RegistryError::Corrupt(format!("latency rollup: {e}")))
    }
}

/// Records `v` (≤ [`MAX_KEY`]), growing the histogram as needed; clamps
/// only if growing fails.
fn record(h: &mut Histogram<u64>, v: u64) {
    if h.record(v.min(MAX_KEY)).is_err() {
        h.saturating_record(v);
    }
}

fn rank_value(h: &Histogram<u64>, k: u64) -> f64 {
    let n = h.len();
    if n == 0 {
        return f64::NAN;
    }
    let q = (k as f64 + 0.5) / n as f64;
    h.median_equivalent(h.value_at_quantile(q.min(1.0))) as f64
}

impl Sample for Latencies {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn at(&self, k: u64) -> f64 {
        rank_value(&self.0, k)
    }
    fn count_le(&self, x: f64) -> u64 {
        if x < 0.0 {
            0
        } else {
            self.0.count_between(0, (x as u64).min(MAX_KEY))
        }
    }
    fn count_lt(&self, x: f64) -> u64 {
        if x <= 0.0 {
            0
        } else {
            let k = x.ceil() as u64;
            self.0.count_between(0, k.saturating_sub(1).min(MAX_KEY))
        }
    }
}

/// Scores: fixed-point magnitudes, one histogram per sign.
#[derive(Debug, Clone)]
pub struct Scores {
    negative: Histogram<u64>,
    zero: u64,
    positive: Histogram<u64>,
}

impl Default for Scores {
    fn default() -> Self {
        Self {
            negative: histogram(),
            zero: 0,
            positive: histogram(),
        }
    }
}

fn key(magnitude: f64) -> u64 {
    let k = (magnitude * SCORE_SCALE).round();
    if k >= MAX_KEY as f64 {
        MAX_KEY
    } else {
        k as u64
    }
}

impl Scores {
    pub fn record(&mut self, x: f64) {
        match key(x.abs()) {
            0 => self.zero += 1,
            k if x < 0.0 => record(&mut self.negative, k),
            k => record(&mut self.positive, k),
        }
    }
    fn merge(&mut self, o: &Scores) -> Result<()> {
        let err =
            |e: hdrhistogram::AdditionError| RegistryError::Corrupt(format!("score rollup: {e}"));
        self.negative.add(&o.negative).map_err(err)?;
        self.positive.add(&o.positive).map_err(err)?;
        self.zero += o.zero;
        Ok(())
    }
    /// Values ≤ magnitude key `k` of one sign's histogram.
    fn le(h: &Histogram<u64>, k: u64) -> u64 {
        h.count_between(1, k.max(1)) * u64::from(k >= 1)
    }
}

impl Sample for Scores {
    fn len(&self) -> u64 {
        self.negative.len() + self.zero + self.positive.len()
    }
    fn at(&self, k: u64) -> f64 {
        let neg = self.negative.len();
        if k < neg {
            -rank_value(&self.negative, neg - 1 - k) / SCORE_SCALE
        } else if k < neg + self.zero {
            0.0
        } else {
            rank_value(&self.positive, k - neg - self.zero) / SCORE_SCALE
        }
    }
    fn count_le(&self, x: f64) -> u64 {
        let k = key(x.abs());
        if k == 0 {
            self.negative.len() + self.zero
        } else if x < 0.0 {
            // −v ≤ x ⇔ v ≥ |x|.
            self.negative.len() - Self::le(&self.negative, k - 1)
        } else {
            self.negative.len() + self.zero + Self::le(&self.positive, k)
        }
    }
    fn count_lt(&self, x: f64) -> u64 {
        let k = key(x.abs());
        if k == 0 {
            self.negative.len()
        } else if x < 0.0 {
            self.negative.len() - Self::le(&self.negative, k)
        } else {
            self.negative.len() + self.zero + Self::le(&self.positive, k - 1)
        }
    }
}

/// One arm's figures in a rollup.
#[derive(Debug, Clone, Default)]
pub struct ArmRollup {
    pub counts: ArmCounts,
    pub latencies: Latencies,
    pub scores: Scores,
}

impl ArmRollup {
    fn add(&mut self, r: &ArmResult) {
        self.counts.requests += 1;
        if !r.ok() {
            self.counts.errors += 1;
            return;
        }
        self.latencies.record(r.latency_us);
        let rows = r.labels.len() as u64;
        let anomalies = r.labels.iter().filter(|&&l| l).count() as u64;
        self.counts.rows += rows;
        self.counts.anomalies += anomalies;
        self.counts.row_sums.add(rows, anomalies);
        for &s in &r.scores {
            self.scores.record(s);
        }
    }

    pub fn merge(&mut self, o: &ArmRollup) -> Result<()> {
        let (a, b) = (&mut self.counts, &o.counts);
        a.requests += b.requests;
        a.errors += b.errors;
        a.rows += b.rows;
        a.anomalies += b.anomalies;
        a.row_sums.merge(&b.row_sums);
        self.latencies.merge(&o.latencies)?;
        self.scores.merge(&o.scores)
    }
}

/// Paired-row counts of shadow records (both arms answered).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pairs {
    pub both: u64,
    pub champion_only: u64,
    pub challenger_only: u64,
    pub neither: u64,
    pub abs_diff_sum: f64,
    pub abs_diff_n: u64,
}

/// Everything the report reads of the records of one trial, period and
/// minute.
#[derive(Debug, Clone, Default)]
pub struct Rollup {
    pub records: u64,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub champion: ArmRollup,
    pub challenger: ArmRollup,
    pub pairs: Pairs,
}

impl Rollup {
    pub fn add(&mut self, r: &ComparisonRecord) {
        self.records += 1;
        match r.served {
            Arm::Champion => self.champion_served += 1,
            Arm::Challenger => self.challenger_served += 1,
        }
        if let Some(a) = &r.champion {
            self.champion.add(a);
        }
        if let Some(b) = &r.challenger {
            self.challenger.add(b);
        }
        let (Some(a), Some(b)) = (&r.champion, &r.challenger) else {
            return;
        };
        if !a.ok() || !b.ok() || a.labels.len() != b.labels.len() {
            return;
        }
        let p = &mut self.pairs;
        for (la, lb) in a.labels.iter().zip(&b.labels) {
            match (la, lb) {
                (true, true) => p.both += 1,
                (true, false) => p.champion_only += 1,
                (false, true) => p.challenger_only += 1,
                (false, false) => p.neither += 1,
            }
        }
        if a.scores.len() == b.scores.len() {
            for (sa, sb) in a.scores.iter().zip(&b.scores) {
                p.abs_diff_sum += (sb - sa).abs();
                p.abs_diff_n += 1;
            }
        }
    }

    pub fn merge(&mut self, o: &Rollup) -> Result<()> {
        self.records += o.records;
        self.champion_served += o.champion_served;
        self.challenger_served += o.challenger_served;
        self.champion.merge(&o.champion)?;
        self.challenger.merge(&o.challenger)?;
        let (p, q) = (&mut self.pairs, &o.pairs);
        p.both += q.both;
        p.champion_only += q.champion_only;
        p.challenger_only += q.challenger_only;
        p.neither += q.neither;
        p.abs_diff_sum += q.abs_diff_sum;
        p.abs_diff_n += q.abs_diff_n;
        Ok(())
    }

    fn counts(&self) -> [u64; 23] {
        let c = |a: &ArmRollup| {
            let k = &a.counts;
            [
                k.requests,
                k.errors,
                k.rows,
                k.anomalies,
                k.row_sums.requests,
                k.row_sums.rows_sq,
                k.row_sums.anomalies_sq,
                k.row_sums.cross,
                a.scores.zero,
            ]
        };
        let (a, b) = (c(&self.champion), c(&self.challenger));
        let p = &self.pairs;
        let mut out = [0u64; 23];
        out[..9].copy_from_slice(&a);
        out[9..18].copy_from_slice(&b);
        out[18..].copy_from_slice(&[
            self.records,
            self.champion_served,
            self.challenger_served,
            p.both,
            p.champion_only,
        ]);
        out
    }

    /// The stored form.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![VERSION];
        for v in self.counts() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let p = &self.pairs;
        for v in [p.challenger_only, p.neither, p.abs_diff_n] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&p.abs_diff_sum.to_le_bytes());
        let mut ser = V2Serializer::new();
        for h in self.histograms() {
            let mut buf = Vec::new();
            ser.serialize(h, &mut buf)
                .map_err(|e| RegistryError::Internal(format!("rollup histogram: {e:?}")))?;
            let len = u32::try_from(buf.len())
                .map_err(|_| RegistryError::Internal("rollup histogram over 4 GiB".to_owned()))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }

    fn histograms(&self) -> [&Histogram<u64>; 6] {
        [
            &self.champion.latencies.0,
            &self.champion.scores.negative,
            &self.champion.scores.positive,
            &self.challenger.latencies.0,
            &self.challenger.scores.negative,
            &self.challenger.scores.positive,
        ]
    }

    pub fn decode(bytes: &[u8]) -> Result<Rollup> {
        let bad = |what: &str| RegistryError::Corrupt(format!("stored rollup: {what}"));
        let (&version, mut rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if version != VERSION {
            return Err(bad(&format!("expected version {VERSION}, got {version}")));
        }
        let mut take = |n: usize| -> Result<&[u8]> {
            if rest.len() < n {
                return Err(bad("truncated"));
            }
            let (a, b) = rest.split_at(n);
            rest = b;
            Ok(a)
        };
        let mut u = [0u64; 26];
        for v in &mut u {
            let b: [u8; 8] = take(8)?.try_into().map_err(|_| bad("truncated"))?;
            *v = u64::from_le_bytes(b);
        }
        let sum: [u8; 8] = take(8)?.try_into().map_err(|_| bad("truncated"))?;
        let mut de = Deserializer::new();
        let mut hs = Vec::with_capacity(6);
        for _ in 0..6 {
            let len: [u8; 4] = take(4)?.try_into().map_err(|_| bad("truncated"))?;
            let mut body = take(u32::from_le_bytes(len) as usize)?;
            let mut h: Histogram<u64> = de
                .deserialize(&mut body)
                .map_err(|e| bad(&format!("histogram: {e:?}")))?;
            // The stored form does not keep auto-resize; merges need it.
            h.auto(true);
            hs.push(h);
        }
        let mut hs = hs.into_iter();
        let mut next = || hs.next().ok_or_else(|| bad("histograms"));
        let arm = |c: &[u64], lat, neg, pos| ArmRollup {
            counts: ArmCounts {
                requests: c[0],
                errors: c[1],
                rows: c[2],
                anomalies: c[3],
                row_sums: crate::trials::sequential::RowSums {
                    requests: c[4],
                    rows_sq: c[5],
                    anomalies_sq: c[6],
                    cross: c[7],
                },
            },
            latencies: Latencies(lat),
            scores: Scores {
                negative: neg,
                zero: c[8],
                positive: pos,
            },
        };
        let champion = arm(&u[..9], next()?, next()?, next()?);
        let challenger = arm(&u[9..18], next()?, next()?, next()?);
        Ok(Rollup {
            records: u[18],
            champion_served: u[19],
            challenger_served: u[20],
            champion,
            challenger,
            pairs: Pairs {
                both: u[21],
                champion_only: u[22],
                challenger_only: u[23],
                neither: u[24],
                abs_diff_n: u[25],
                abs_diff_sum: f64::from_le_bytes(sum),
            },
        })
    }
}

/// The minute (Unix time / 60, floored) of a record's time.
pub fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// The period of a record's time among `periods` (oldest first), by the
/// rule of [`crate::trials::periods::PeriodsBuilder::add`].
pub fn period_of(periods: &[Period], t: DateTime<Utc>) -> u32 {
    let i = periods
        .partition_point(|p| p.started_at <= t)
        .saturating_sub(1);
    periods.get(i).map_or(0, |p| p.period)
}

/// Records folded by (trial, period, minute), given each trial's periods.
pub fn fold<'a>(
    records: impl IntoIterator<Item = &'a ComparisonRecord>,
    periods: &BTreeMap<u64, Vec<Period>>,
) -> BTreeMap<(u64, u32, i64), Rollup> {
    let mut out: BTreeMap<(u64, u32, i64), Rollup> = BTreeMap::new();
    for r in records {
        let p = periods
            .get(&r.trial_id)
            .map_or(0, |ps| period_of(ps, r.time));
        out.entry((r.trial_id, p, minute(r.time)))
            .or_default()
            .add(r);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scores_read_back_within_the_bound_through_the_stored_form() {
        let values: Vec<f64> = (0..2000).map(|i| (i as f64 - 1000.0) / 250.0).collect();
        let mut r = Rollup::default();
        for &v in &values {
            r.champion.scores.record(v);
            r.champion.latencies.record((v.abs() * 1e4) as u64);
        }
        for r in [r.clone(), Rollup::decode(&r.encode().unwrap()).unwrap()] {
            let s = &r.champion.scores;
            assert_eq!(s.len(), 2000);
            for (k, &v) in values.iter().enumerate() {
                let got = s.at(k as u64);
                assert!(
                    (got - v).abs() <= 1e-3 * v.abs() + 1e-6,
                    "rank {k}: {got} vs {v}"
                );
            }
            assert_eq!(s.count_le(0.0), 1001);
            assert_eq!(s.count_lt(0.0), 1000);
            let mut merged = Rollup::default();
            merged.merge(&r).unwrap();
            merged.merge(&r).unwrap();
            assert_eq!(merged.champion.scores.len(), 4000);
            assert!((merged.champion.scores.at(3999) - 3.996).abs() < 1e-2);
        }
    }
}
