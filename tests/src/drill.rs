//! One production drill: a [`Topology`], six clients of [`Traffic`] over
//! both routers, the changes the drill makes (each waited for through the
//! registry and the routers, never with a fixed sleep), and the report:
//! requests, failed, and how long changes took to settle.
//!
//! The report is printed as one line per drill,
//!
//! ```text
//! DRILL promote_rollback_cycles: requests=31204 failed=0 (errors=0 wrong=0) rerouted=0 changes=40 settle_p50=95ms settle_max=210ms time=18.4s
//! ```
//!
//! and appended to the file `JOUST_DRILL_REPORT` names, when set.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::topology::{Desired, Topology};
use crate::traffic::{Counts, Serving, Traffic};

/// Clients per drill.
pub const CLIENTS: usize = 6;
/// Answers every state gets (across all clients) before the next change.
pub const ANSWERS_PER_STATE: u64 = 60;
/// The longest any change may take to reach every router.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest the traffic may take to get a state's answers.
pub const TRAFFIC_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Drill {
    pub name: &'static str,
    pub topology: Topology,
    pub traffic: Traffic,
    started: Instant,
    change_started: Option<Instant>,
    settles: Vec<Duration>,
    notes: Vec<String>,
}

impl Drill {
    /// Starts the topology and the clients, and waits for their first
    /// answers.
    pub async fn start(name: &'static str) -> anyhow::Result<Self> {
        let started = Instant::now();
        let topology = Topology::start().await?;
        let (desired, _) = topology.settle(SETTLE_TIMEOUT).await?;
        let traffic = Traffic::start(
            &topology.router_urls(),
            crate::topology::MODEL,
            CLIENTS,
            desired.serving(),
        );
        let drill = Self {
            name,
            topology,
            traffic,
            started,
            change_started: None,
            settles: Vec::new(),
            notes: Vec::new(),
        };
        drill.answers(ANSWERS_PER_STATE).await?;
        Ok(drill)
    }

    /// Waits for `n` more answers of the current state.
    pub async fn answers(&self, n: u64) -> anyhow::Result<()> {
        self.traffic.wait_answers(n, TRAFFIC_TIMEOUT).await
    }

    /// Before a change that should end with `to` serving.
    pub async fn changing(&mut self, to: Serving) -> anyhow::Result<()> {
        self.traffic.changing(to).await?;
        self.change_started = Some(Instant::now());
        Ok(())
    }

    /// Before a change that should end with one of `targets` serving.
    pub async fn changing_to_any(&mut self, targets: &[Serving]) -> anyhow::Result<()> {
        self.traffic.changing_to_any(targets).await?;
        self.change_started = Some(Instant::now());
        Ok(())
    }

    /// After the change: waits until every router routes what the registry
    /// says should serve, checks that this is `to`, then holds every
    /// answer to `to` and waits for a state's worth of answers.
    pub async fn settled(&mut self, to: Serving) -> anyhow::Result<Desired> {
        let (desired, _) = self.topology.settle(SETTLE_TIMEOUT).await?;
        if let Some(t) = self.change_started.take() {
            self.settles.push(t.elapsed());
        }
        anyhow::ensure!(
            desired.serving() == to,
            "the registry says {} should serve, the drill expected {to} ({desired:?})",
            desired.serving()
        );
        self.traffic.settled(to);
        self.answers(ANSWERS_PER_STATE).await?;
        Ok(desired)
    }

    /// A line for the report (e.g. a figure the drill measured).
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("{}: {text}", self.name);
        self.notes.push(text);
    }

    /// Stops the clients, prints the report line and fails when any
    /// request failed.
    pub async fn finish(mut self) -> anyhow::Result<Counts> {
        let samples = self.traffic.samples();
        let counts = self.traffic.stop().await;
        let line = self.line(&counts);
        report(&line);
        for n in &self.notes {
            report(&format!("  {}: {n}", self.name));
        }
        anyhow::ensure!(
            counts.failed() == 0 && counts.requests > 0,
            "{line}\nfirst failures:\n  {}\nlogs:\n{}",
            samples.join("\n  "),
            self.topology.logs()
        );
        Ok(counts)
    }

    /// Ends the drill on an error: the report line with the counts so far,
    /// the first failures and the logs, then the error.
    pub fn fail(&self, error: anyhow::Error) -> anyhow::Error {
        let counts = self.traffic.counts();
        let line = self.line(&counts);
        report(&format!("{line} ABORTED: {error:#}"));
        anyhow::anyhow!(
            "{line}\n{error:#}\nfirst failures:\n  {}\nlogs:\n{}",
            self.traffic.samples().join("\n  "),
            self.topology.logs()
        )
    }

    fn line(&self, c: &Counts) -> String {
        let mut settles = self.settles.clone();
        settles.sort();
        let pct = |p: f64| -> String {
            if settles.is_empty() {
                return "-".into();
            }
            let i = ((settles.len() - 1) as f64 * p).round() as usize;
            format!("{}ms", settles[i].as_millis())
        };
        format!(
            "DRILL {}: requests={} failed={} (errors={} wrong={}) rerouted={} changes={} settle_p50={} settle_max={} time={:.1}s",
            self.name,
            c.requests,
            c.failed(),
            c.errors,
            c.wrong,
            c.rerouted,
            settles.len(),
            pct(0.5),
            pct(1.0),
            self.started.elapsed().as_secs_f64()
        )
    }
}

/// Prints a report line and appends it to `JOUST_DRILL_REPORT`, if set.
pub fn report(line: &str) {
    eprintln!("{line}");
    println!("{line}");
    if let Ok(path) = std::env::var("JOUST_DRILL_REPORT")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}
