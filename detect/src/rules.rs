//! Noise reduction: the anomaly types, the rules (one threshold with an
//! operator per type) that decide which scored bars become anomalies, and
//! the whitelist of series whose anomalies are kept but flagged. Pure
//! code: no database or gRPC types here.
//!
//! A scored bar is stored as an anomaly when at least one *enabled* rule
//! fires for it; the anomaly records every rule that fired (its type, the
//! measured value, the operator and the threshold). A bar of a whitelisted
//! series is stored all the same, flagged `whitelisted`.

use std::fmt;

use crate::error::{DetectError, Result};

/// What a rule measures on a scored bar. Every type is computed from the
/// model's answer or from the 14 features of the bar (see
/// `joust_models::features::FEATURE_NAMES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyType {
    /// 1 when the model labels the bar anomalous (its score is above the
    /// model's own decision threshold), else 0.
    ModelLabel,
    /// The model's anomaly score (higher = more anomalous; the scale
    /// depends on the model kind: an isolation forest scores in (0, 1]).
    ModelScore,
    /// |`return_1`|: the absolute close-to-close return of the bar.
    PriceSpike,
    /// `log_volume_z`: z-score of ln(1 + volume) within the 20 bars ending
    /// at the bar.
    VolumeSpike,
    /// `volatility_20`: population σ of `return_1` over the 20 bars ending
    /// at the bar.
    Volatility,
}

/// Column of `return_1`, `log_volume_z` and `volatility_20` in the feature
/// vector (checked against `FEATURE_NAMES` by a test).
const RETURN_1: usize = 0;
const LOG_VOLUME_Z: usize = 2;
const VOLATILITY_20: usize = 9;

impl AnomalyType {
    /// Every type, in the order lists show them.
    pub const ALL: [AnomalyType; 5] = [
        AnomalyType::ModelLabel,
        AnomalyType::ModelScore,
        AnomalyType::PriceSpike,
        AnomalyType::VolumeSpike,
        AnomalyType::Volatility,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyType::ModelLabel => "model_label",
            AnomalyType::ModelScore => "model_score",
            AnomalyType::PriceSpike => "price_spike",
            AnomalyType::VolumeSpike => "volume_spike",
            AnomalyType::Volatility => "volatility",
        }
    }

    /// Parses `text`; the error names `field` and the accepted values.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                DetectError::InvalidArgument(format!(
                    "{field}: expected one of {}, got {text:?}",
                    names.join(", ")
                ))
            })
    }

    /// What the type measures, for listings and docs.
    pub fn measure(self) -> &'static str {
        match self {
            AnomalyType::ModelLabel => "1 if the model labels the bar anomalous, else 0",
            AnomalyType::ModelScore => "the model's anomaly score (higher = more anomalous)",
            AnomalyType::PriceSpike => "|return_1|: absolute close-to-close return",
            AnomalyType::VolumeSpike => {
                "log_volume_z: z-score of ln(1+volume) within the last 20 bars"
            }
            AnomalyType::Volatility => "volatility_20: std of return_1 over the last 20 bars",
        }
    }

    /// The measured value for a bar scored `score` / `label` with
    /// `features` (in `FEATURE_NAMES` order). A missing feature measures
    /// NaN, which no rule fires on.
    pub fn value(self, score: f32, label: bool, features: &[f32]) -> f64 {
        let feature = |i: usize| features.get(i).map_or(f64::NAN, |v| f64::from(*v));
        match self {
            AnomalyType::ModelLabel => {
                if label {
                    1.0
                } else {
                    0.0
                }
            }
            AnomalyType::ModelScore => f64::from(score),
            AnomalyType::PriceSpike => feature(RETURN_1).abs(),
            AnomalyType::VolumeSpike => feature(LOG_VOLUME_Z),
            AnomalyType::Volatility => feature(VOLATILITY_20),
        }
    }
}

impl fmt::Display for AnomalyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a measured value is compared with a rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Operator {
    pub const ALL: [Operator; 5] = [
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::Eq,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Eq => "eq",
        }
    }

    /// Parses `text`; the error names `field` and the accepted values.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| {
                DetectError::InvalidArgument(format!(
                    "{field}: expected one of gt, gte, lt, lte, eq, got {text:?}"
                ))
            })
    }

    /// `value OP threshold`; false when either is NaN.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::Gt => value > threshold,
            Operator::Gte => value >= threshold,
            Operator::Lt => value < threshold,
            Operator::Lte => value <= threshold,
            Operator::Eq => value == threshold,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The threshold of one anomaly type (at most one rule per type).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub anomaly_type: AnomalyType,
    pub operator: Operator,
    pub threshold: f64,
    /// A disabled rule is kept but not applied.
    pub enabled: bool,
    pub description: String,
    /// Unix ms of the last change (0 for a migration default).
    pub updated_at_ms: i64,
}

impl Rule {
    /// Checks the threshold (a finite number) and the description.
    pub fn validate(&self) -> Result<()> {
        if !self.threshold.is_finite() {
            return Err(DetectError::InvalidArgument(format!(
                "threshold: expected a finite number, got {}",
                self.threshold
            )));
        }
        if self.description.len() > 1000 {
            return Err(DetectError::InvalidArgument(format!(
                "description: expected at most 1000 bytes, got {}",
                self.description.len()
            )));
        }
        Ok(())
    }
}

/// One rule that fired for an anomaly: its type, the value measured on the
/// bar and the threshold it was compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    pub anomaly_type: AnomalyType,
    pub value: f64,
    pub operator: Operator,
    pub threshold: f64,
}

/// The rules in force for one run: the enabled ones, by type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The enabled rules of `rules`, sorted by type.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        let mut rules: Vec<Rule> = rules.into_iter().filter(|r| r.enabled).collect();
        rules.sort_by_key(|r| r.anomaly_type);
        Self { rules }
    }

    /// The enabled rules, sorted by type.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every rule that fires for a bar (by type); empty: not an anomaly.
    pub fn evaluate(&self, score: f32, label: bool, features: &[f32]) -> Vec<RuleMatch> {
        self.rules
            .iter()
            .filter_map(|r| {
                let value = r.anomaly_type.value(score, label, features);
                r.operator.holds(value, r.threshold).then_some(RuleMatch {
                    anomaly_type: r.anomaly_type,
                    value,
                    operator: r.operator,
                    threshold: r.threshold,
                })
            })
            .collect()
    }
}

/// A whitelisted series: anomalies of `ticker` (of `interval`, or of every
/// interval when it is empty) are stored flagged `whitelisted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistEntry {
    pub ticker: String,
    /// "" = every interval.
    pub interval: String,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
}

impl WhitelistEntry {
    /// True when the entry covers the series (`ticker`, `interval`).
    pub fn covers(&self, ticker: &str, interval: &str) -> bool {
        self.ticker == ticker && (self.interval.is_empty() || self.interval == interval)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use joust_models::features::FEATURE_NAMES;

    fn rule(t: AnomalyType, op: Operator, threshold: f64, enabled: bool) -> Rule {
        Rule {
            anomaly_type: t,
            operator: op,
            threshold,
            enabled,
            description: String::new(),
            updated_at_ms: 0,
        }
    }

    #[test]
    fn feature_columns_match_the_feature_names() {
        assert_eq!(FEATURE_NAMES[RETURN_1], "return_1");
        assert_eq!(FEATURE_NAMES[LOG_VOLUME_Z], "log_volume_z");
        assert_eq!(FEATURE_NAMES[VOLATILITY_20], "volatility_20");
    }

    #[test]
    fn names_round_trip_and_errors_name_the_field() {
        for t in AnomalyType::ALL {
            assert_eq!(AnomalyType::parse("anomaly_type", t.as_str()).unwrap(), t);
        }
        for o in Operator::ALL {
            assert_eq!(Operator::parse("operator", o.as_str()).unwrap(), o);
        }
        let e = AnomalyType::parse("anomaly_type", "spike").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("anomaly_type: expected one of model_label")
        );
        let e = Operator::parse("operator", ">").unwrap_err();
        assert_eq!(
            e.to_string(),
            "operator: expected one of gt, gte, lt, lte, eq, got \">\""
        );
        let r = rule(AnomalyType::ModelScore, Operator::Gt, f64::NAN, true);
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .starts_with("threshold:")
        );
    }

    #[test]
    fn operators_compare_and_never_fire_on_nan() {
        assert!(Operator::Gt.holds(2.0, 1.0) && !Operator::Gt.holds(1.0, 1.0));
        assert!(Operator::Gte.holds(1.0, 1.0) && !Operator::Gte.holds(0.5, 1.0));
        assert!(Operator::Lt.holds(0.5, 1.0) && !Operator::Lt.holds(1.0, 1.0));
        assert!(Operator::Lte.holds(1.0, 1.0) && !Operator::Lte.holds(1.5, 1.0));
        assert!(Operator::Eq.holds(1.0, 1.0) && !Operator::Eq.holds(0.0, 1.0));
        for o in Operator::ALL {
            assert!(!o.holds(f64::NAN, 1.0));
        }
    }

    #[test]
    fn rule_sets_apply_enabled_rules_and_record_what_fired() {
        let set = RuleSet::new([
            rule(AnomalyType::Volatility, Operator::Gt, 0.03, false),
            rule(AnomalyType::PriceSpike, Operator::Gt, 0.05, true),
            rule(AnomalyType::ModelLabel, Operator::Eq, 1.0, true),
        ]);
        assert_eq!(set.rules().len(), 2);
        assert_eq!(set.rules()[0].anomaly_type, AnomalyType::ModelLabel);
        let mut features = vec![0.0_f32; 14];
        // Neither the label nor a 1% return fires.
        features[RETURN_1] = -0.01;
        features[VOLATILITY_20] = 0.5;
        assert!(set.evaluate(0.9, false, &features).is_empty());
        // A −6% return fires price_spike (absolute value), the label too.
        features[RETURN_1] = -0.06;
        let m = set.evaluate(0.9, true, &features);
        let types: Vec<AnomalyType> = m.iter().map(|m| m.anomaly_type).collect();
        assert_eq!(types, [AnomalyType::ModelLabel, AnomalyType::PriceSpike]);
        assert_eq!(m[1].value, f64::from(0.06_f32));
        assert_eq!((m[1].operator, m[1].threshold), (Operator::Gt, 0.05));
    }

    #[test]
    fn whitelist_entries_cover_one_or_every_interval() {
        let mut e = WhitelistEntry {
            ticker: "AAPL".into(),
            interval: String::new(),
            reason: String::new(),
            created_by: String::new(),
            created_at_ms: 0,
        };
        assert!(e.covers("AAPL", "1d") && e.covers("AAPL", "1m"));
        assert!(!e.covers("MSFT", "1d"));
        e.interval = "1d".into();
        assert!(e.covers("AAPL", "1d") && !e.covers("AAPL", "1m"));
    }
}
