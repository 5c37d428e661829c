//! The demo's traffic: OIP requests of synthetic feature rows, closed-loop
//! clients through the router, waiting for the router to answer with a
//! version, and tallies of what answered.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use joust_client::inference::InferRequest;
use joust_client::{TrialsClient, pb};
use joust_models::dataset::feature_matrix;
use joust_models::features::N_FEATURES;
use joust_models::synthetic::{self, SyntheticConfig};
use joust_proto::inference::ModelInferRequest;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_security::SecureChannel as Channel;
use serde::Serialize;
use tokio::time::Instant;

use super::{BATCH, CONVERGE};

/// Feature rows of a fresh synthetic market (another seed than training),
/// flattened row-major.
pub(super) fn traffic_rows() -> Vec<f32> {
    let series = synthetic::generate(&SyntheticConfig {
        tickers: 2,
        rows: 400,
        seed: 7,
        ..SyntheticConfig::default()
    });
    let features = feature_matrix(&series);
    features.x.rows().into_iter().flatten().copied().collect()
}

/// An OIP request of `BATCH` rows starting at row `at` (wrapping).
pub(super) fn request(model: &str, rows: &[f32], at: usize, pin: Option<u64>) -> ModelInferRequest {
    let n = (rows.len() / N_FEATURES).max(1);
    let values: Vec<f32> = (0..BATCH)
        .flat_map(|i| {
            let r = (at + i) % n;
            rows.get(r * N_FEATURES..(r + 1) * N_FEATURES)
                .unwrap_or(&[])
                .iter()
                .copied()
        })
        .collect();
    InferRequest::new(model, N_FEATURES, values)
        .version(pin)
        .build()
}

/// Waits until the router answers for `model` (pinned to `pin` if given)
/// with version `want`.
pub(super) async fn wait_answer(
    oip: &GrpcInferenceServiceClient<Channel>,
    model: &str,
    rows: &[f32],
    pin: Option<u64>,
    want: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + CONVERGE;
    let want_s = want.to_string();
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match oip.clone().model_infer(request(model, rows, 0, pin)).await {
            Ok(r) if r.get_ref().model_version == want_s => return Ok(()),
            Ok(r) => last = format!("answered by v{}", r.get_ref().model_version),
            Err(s) => last = format!("{:?}: {}", s.code(), s.message()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "the router never answered {model} with v{want} within {} s (last: {last})",
        CONVERGE.as_secs()
    )
}

/// Polls the report until both arms have figures (the router flushes
/// comparison records every 200 ms).
pub(super) async fn wait_report(trials: &TrialsClient, id: u64) -> anyhow::Result<pb::TrialReport> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let r = trials
            .report(id, "")
            .await
            .with_context(|| format!("reading trial {id}'s report"))?;
        let both = r.champion.as_ref().is_some_and(|a| a.requests > 0)
            && r.challenger.as_ref().is_some_and(|a| a.requests > 0);
        if both {
            return Ok(r);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "trial {id}'s report has no records for both arms after {} s ({} records)",
                CONVERGE.as_secs(),
                r.records
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) fn traffic_bar(json: bool, secs: u64) -> Option<ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(secs * 1000), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("    traffic [{bar:30.cyan/blue}] {msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

/// One answer of the traffic: when it arrived and which version answered
/// (or the error).
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) at: Instant,
    pub(super) version: Option<String>,
    pub(super) error: Option<String>,
}

/// Closed-loop clients sending until stopped.
pub(super) struct Traffic {
    stop: Arc<AtomicBool>,
    pub(super) sent: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Traffic {
    pub(super) fn start(
        channel: &Channel,
        model: &str,
        rows: &Arc<Vec<f32>>,
        concurrency: u64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let tasks = (0..concurrency as usize)
            .map(|c| {
                let client = GrpcInferenceServiceClient::new(channel.clone());
                let (stop, sent, rows) = (stop.clone(), sent.clone(), rows.clone());
                let model = model.to_owned();
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    let mut at = c * 97;
                    while !stop.load(Ordering::Relaxed) {
                        let outcome = client
                            .clone()
                            .model_infer(request(&model, &rows, at, None))
                            .await;
                        at += BATCH;
                        sent.fetch_add(1, Ordering::Relaxed);
                        let (version, error) = match outcome {
                            Ok(r) => (Some(r.into_inner().model_version), None),
                            Err(s) => (None, Some(format!("{:?}: {}", s.code(), s.message()))),
                        };
                        answers.push(Answer {
                            at: Instant::now(),
                            version,
                            error,
                        });
                    }
                    answers
                })
            })
            .collect();
        Self { stop, sent, tasks }
    }

    pub(super) async fn finish(self) -> anyhow::Result<Vec<Answer>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in self.tasks {
            all.extend(t.await.context("traffic client task")?);
        }
        all.sort_by_key(|a| a.at);
        Ok(all)
    }
}

/// Counts of a set of answers.
#[derive(Debug, Default, Serialize)]
pub(super) struct Tally {
    pub(super) requests: u64,
    pub(super) failed: u64,
    /// Error message → count.
    pub(super) errors: BTreeMap<String, u64>,
    /// Version → answers.
    pub(super) versions: BTreeMap<String, u64>,
}

impl Tally {
    pub(super) fn of<'a>(answers: impl Iterator<Item = &'a Answer>) -> Self {
        let mut t = Tally::default();
        for a in answers {
            t.requests += 1;
            if let Some(v) = &a.version {
                *t.versions.entry(v.clone()).or_default() += 1;
            }
            if let Some(e) = &a.error {
                t.failed += 1;
                *t.errors.entry(e.clone()).or_default() += 1;
            }
        }
        t
    }

    pub(super) fn versions_text(&self) -> String {
        if self.versions.is_empty() {
            return "no answers".to_owned();
        }
        self.versions
            .iter()
            .map(|(v, n)| format!("v{v} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn requests_carry_batch_rows_of_the_feature_width() {
        let rows = traffic_rows();
        assert_eq!(rows.len() % N_FEATURES, 0);
        let r = request("m", &rows, rows.len() / N_FEATURES - 1, Some(3));
        assert_eq!(r.model_version, "3");
        assert_eq!(r.inputs[0].shape, vec![BATCH as i64, N_FEATURES as i64]);
        let values = &r.inputs[0].contents.as_ref().unwrap().fp32_contents;
        assert_eq!(values.len(), BATCH * N_FEATURES);
        // Wraps around to the first row after the last.
        assert_eq!(&values[N_FEATURES..2 * N_FEATURES], &rows[..N_FEATURES]);
    }
}
