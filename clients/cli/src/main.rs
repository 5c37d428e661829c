//! The `joust` command: parses the command line, starts logging and
//! tracing (joust-telemetry), and hands
//! off to the role or client command asked for.

#[macro_use]
mod stdout;
mod bench_cmd;
mod cli;
mod client_opts;
mod data_cmd;
mod demo;
mod detect;
mod errors;
mod flow_cmd;
mod flows;
mod model_cmd;
mod output;
mod registry_cmd;
mod security;
mod shutdown;
mod status_cmd;
mod trial_cmd;
mod trial_output;
mod trial_plan;
mod up_cmd;
mod webhooks_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    stdout::install_broken_pipe_exit();
    let args = cli::Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.worker_threads() {
        runtime.worker_threads(n);
    }
    match runtime.build() {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: cli::Cli) -> std::process::ExitCode {
    // The demo's story is its output: the embedded roles only log errors
    // unless JOUST_LOG says otherwise.
    let level = if matches!(args.command, cli::Command::Demo(_)) {
        "error"
    } else {
        "info"
    };
    let _telemetry = match joust_telemetry::init_with_level(
        args.service_name(),
        args.otlp_endpoint.clone(),
        args.log_json,
        level,
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", errors::sentence(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
