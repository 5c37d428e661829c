//! Per-period figures (pure): a trial's records split by the period their
//! time falls in (every change of mode, weight or sampling starts one), so
//! that the sample-ratio check of a split period uses that period's
//! weight, and the report can show each period beside the totals.

use crate::trials::domain::{Arm, ArmResult, ComparisonRecord, Mode, Period};
use crate::trials::gates::{ArmCounts, SplitPeriod};
use crate::trials::rollup::Rollup;

/// One period's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodReport {
    pub period: Period,
    pub records: u64,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub champion: ArmCounts,
    pub challenger: ArmCounts,
    /// Rows labelled by both arms of one request, and those labelled alike.
    pub paired_rows: u64,
    pub agreeing_rows: u64,
}

impl PeriodReport {
    fn new(period: Period) -> Self {
        Self {
            period,
            records: 0,
            champion_served: 0,
            challenger_served: 0,
            champion: ArmCounts::default(),
            challenger: ArmCounts::default(),
            paired_rows: 0,
            agreeing_rows: 0,
        }
    }

    /// The split check of this period, when it is a split period.
    pub fn split(&self) -> Option<SplitPeriod> {
        (self.period.mode == Mode::Split).then_some(SplitPeriod {
            period: self.period.period,
            champion_served: self.champion_served,
            challenger_served: self.challenger_served,
            weight: self.period.weight,
        })
    }
}

fn count(c: &mut ArmCounts, a: &ArmResult) {
    c.requests += 1;
    if a.ok() {
        let (rows, anomalies) = (
            a.labels.len() as u64,
            a.labels.iter().filter(|&&l| l).count() as u64,
        );
        c.rows += rows;
        c.anomalies += anomalies;
        c.row_sums.add(rows, anomalies);
    } else {
        c.errors += 1;
    }
}

/// Accumulates records into their periods.
#[derive(Debug, Default)]
pub struct PeriodsBuilder {
    periods: Vec<PeriodReport>,
}

impl PeriodsBuilder {
    /// `periods` oldest first; empty gives no per-period rows.
    pub fn new(periods: Vec<Period>) -> Self {
        Self {
            periods: periods.into_iter().map(PeriodReport::new).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    /// Adds a record to the latest period that started at or before its
    /// time (a record older than period 0, a router clock behind the
    /// registry's, counts in period 0).
    pub fn add(&mut self, r: &ComparisonRecord) {
        let i = self
            .periods
            .partition_point(|p| p.period.started_at <= r.time)
            .saturating_sub(1);
        let Some(p) = self.periods.get_mut(i) else {
            return;
        };
        p.records += 1;
        match r.served {
            Arm::Champion => p.champion_served += 1,
            Arm::Challenger => p.challenger_served += 1,
        }
        if let Some(a) = &r.champion {
            count(&mut p.champion, a);
        }
        if let Some(b) = &r.challenger {
            count(&mut p.challenger, b);
        }
        if let (Some(a), Some(b)) = (&r.champion, &r.challenger)
            && a.ok()
            && b.ok()
            && a.labels.len() == b.labels.len()
        {
            p.paired_rows += a.labels.len() as u64;
            p.agreeing_rows += a
                .labels
                .iter()
                .zip(&b.labels)
                .filter(|(x, y)| x == y)
                .count() as u64;
        }
    }

    /// Adds a rollup of period number `period` (one not among the
    /// periods counts in period 0, as a record would).
    pub fn add_rollup(&mut self, period: u32, r: &Rollup) {
        let i = self
            .periods
            .iter()
            .position(|p| p.period.period == period)
            .unwrap_or(0);
        let Some(p) = self.periods.get_mut(i) else {
            return;
        };
        p.records += r.records;
        p.champion_served += r.champion_served;
        p.challenger_served += r.challenger_served;
        let add = |c: &mut ArmCounts, o: &ArmCounts| {
            c.requests += o.requests;
            c.errors += o.errors;
            c.rows += o.rows;
            c.anomalies += o.anomalies;
            c.row_sums.merge(&o.row_sums);
        };
        add(&mut p.champion, &r.champion.counts);
        add(&mut p.challenger, &r.challenger.counts);
        let q = &r.pairs;
        p.paired_rows += q.both + q.champion_only + q.challenger_only + q.neither;
        p.agreeing_rows += q.both + q.neither;
    }

    pub fn finish(self) -> Vec<PeriodReport> {
        self.periods
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{DateTime, TimeDelta, Utc};

    fn period(n: u32, at: i64, mode: Mode, weight: f64) -> Period {
        Period {
            period: n,
            started_at: DateTime::UNIX_EPOCH + TimeDelta::seconds(at),
            mode,
            weight,
            sampling: 1.0,
        }
    }

    fn record(at: i64, served: Arm, both: bool) -> ComparisonRecord {
        let arm = ArmResult {
            version: 1,
            scores: vec![0.5],
            labels: vec![false],
            latency_us: 10,
            status_code: 0,
        };
        ComparisonRecord {
            record_id: format!("r{at}"),
            trial_id: 1,
            request_id: String::new(),
            time: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(at),
            routing_key_hash: 0,
            served,
            champion: (both || served == Arm::Champion).then(|| arm.clone()),
            challenger: (both || served == Arm::Challenger).then_some(arm),
        }
    }

    #[test]
    fn records_fall_in_the_period_of_their_time() {
        let mut b = PeriodsBuilder::new(vec![
            period(0, 100, Mode::Shadow, 0.0),
            period(1, 200, Mode::Split, 0.1),
        ]);
        b.add(&record(50, Arm::Champion, true)); // before the start: period 0
        b.add(&record(150, Arm::Champion, true));
        b.add(&record(200, Arm::Challenger, false)); // at the change: period 1
        b.add(&record(250, Arm::Champion, false));
        let p = b.finish();
        assert_eq!((p[0].records, p[0].paired_rows), (2, 2));
        assert_eq!((p[1].records, p[1].paired_rows), (2, 0));
        assert_eq!((p[1].champion_served, p[1].challenger_served), (1, 1));
        assert!(p[0].split().is_none());
        assert_eq!(p[1].split().unwrap().weight, 0.1);
    }
}
