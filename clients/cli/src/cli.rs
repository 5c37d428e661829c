//! The command tree (clap derive; every flag has `long` and `env`).

use clap::{Parser, Subcommand};

use crate::{
    bench_cmd, data_cmd, demo, detect, model_cmd, registry_cmd, status_cmd, trial_cmd, up_cmd,
    webhooks_cmd,
};

/// The help heading of the options every command takes (logging,
/// tracing, TLS and token), after each command's own.
const GLOBAL: &str = "Global options";

/// joust: serve anomaly-detection models over gRPC and put a challenger up
/// against the champion without risk.
#[derive(Debug, Parser)]
#[command(name = "joust", version, about, long_about = None)]
pub struct Cli {
    /// Log as JSON lines (stderr). Log level: JOUST_LOG (default info).
    #[arg(long, env = "JOUST_LOG_JSON", global = true, help_heading = GLOBAL)]
    pub log_json: bool,
    /// Export OpenTelemetry spans over OTLP/gRPC to this collector
    /// (`http://host:4317`); unset: no export. Incoming W3C `traceparent`
    /// metadata is continued either way.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        global = true,
        help_heading = GLOBAL
    )]
    pub otlp_endpoint: Option<String>,
    /// TLS certificate, CA and token of this process (every command).
    #[command(flatten, next_help_heading = GLOBAL)]
    pub credentials: joust_security::CredentialArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the model registry (metadata in PostgreSQL or SQLite, blobs in
    /// object storage).
    Registry(registry_cmd::RegistryArgs),
    /// Models and versions: create, register, transition, promote, alias,
    /// rollback, history, download.
    Model(model_cmd::ModelArgs),
    /// Datasets: ingest (synthetic market or OHLCV CSV), list, show.
    Data(data_cmd::DataArgs),
    /// Run a serving node: follow model refs in the registry, hot-swap
    /// versions, answer Open Inference Protocol v2 and joust.v1.Inference.
    Serve(joust_server::ServeArgs),
    /// Run a router: route requests to the champion or the challenger
    /// (split, shadow), forward them to serving nodes, record comparisons.
    Route(joust_router::RouteArgs),
    /// Load generator: closed loop (concurrency) or open loop (rate)
    /// against a node or router, OIP or native; a fixed payload or real
    /// feature rows replayed from a dataset or CSV; prints a JSON report.
    Bench(bench_cmd::BenchCmd),
    /// The embedded platform in one process: a registry (SQLite + local
    /// blobs under --data-dir), a serving node following every model's
    /// champion and challenger, and the router in front of it.
    Up(up_cmd::UpArgs),
    /// Champion/challenger trials: start, update, report (--watch), stop,
    /// list, show.
    Trial(trial_cmd::TrialArgs),
    /// Serving state per model: champion and challenger, what each router
    /// answers with, which node holds which version in which phase
    /// (refusals with reasons), blocked rollouts.
    Status(status_cmd::StatusArgs),
    /// The registry's webhooks: the delivery log (`deliveries`).
    Webhooks(webhooks_cmd::WebhooksArgs),
    /// The whole story in a minute: an embedded platform (or a running
    /// one), a champion and a challenger trained and evaluated, a shadow
    /// trial under traffic, a promotion that hot-swaps with no failed
    /// request, and a rollback.
    Demo(demo::DemoArgs),
    /// Detection service: run the role (`serve`), ingest OHLCV bars,
    /// detect anomalies, backfill jobs, list anomalies and runs, rules,
    /// whitelists, evidence and statistics.
    Detect(detect::DetectArgs),
}

impl Cli {
    /// The OpenTelemetry `service.name` of this process.
    /// Threads of the process's async runtime when the command asks for
    /// a number (`route --worker-threads`); `None`: one per CPU.
    pub fn worker_threads(&self) -> Option<usize> {
        match &self.command {
            Command::Route(a) => a.worker_threads.map(usize::from),
            _ => None,
        }
    }

    pub fn service_name(&self) -> &'static str {
        match self.command {
            Command::Registry(_) => "joust-registry",
            Command::Serve(_) => "joust-node",
            Command::Route(_) => "joust-router",
            Command::Up(_) => "joust-up",
            Command::Detect(_) => "joust-detect",
            _ => "joust-cli",
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::security::init(&cli.credentials)?;
    let credentials = &cli.credentials;
    match cli.command {
        Command::Registry(args) => registry_cmd::run(args).await,
        Command::Model(args) => model_cmd::run(args).await,
        Command::Data(args) => data_cmd::run(args).await,
        Command::Trial(args) => trial_cmd::run(args).await,
        Command::Status(args) => status_cmd::run(args).await,
        Command::Webhooks(args) => webhooks_cmd::run(args).await,
        Command::Serve(args) => Ok(joust_server::cli::serve(args, credentials).await?),
        Command::Route(args) => {
            Ok(joust_router::cli::route(args, credentials, crate::shutdown::signal()).await?)
        }
        Command::Bench(args) => bench_cmd::run(args).await,
        Command::Up(args) => up_cmd::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Detect(args) => detect::run(args).await,
    }
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    use super::Cli;

    /// A command's help lists its own options first and the process-wide
    /// ones (logging, tracing, TLS, token) under their own heading.
    #[test]
    fn global_options_have_their_own_heading() {
        let mut cmd = Cli::command();
        cmd.build();
        let model = cmd
            .find_subcommand_mut("model")
            .map(|c| c.render_help().to_string())
            .unwrap_or_default();
        let global = model.find("Global options:").unwrap_or(usize::MAX);
        let registry = model.find("--registry").unwrap_or(usize::MAX);
        for flag in [
            "--tls-cert",
            "--token-file",
            "--log-json",
            "--otlp-endpoint",
        ] {
            let at = model.find(flag).unwrap_or(0);
            assert!(
                at > global && global < usize::MAX,
                "{flag} not under Global options:\n{model}"
            );
        }
        assert!(
            registry < global,
            "--registry is the command's own:\n{model}"
        );
    }
}
