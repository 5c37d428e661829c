//! What the registry client commands (`model`, `data`, `flow`, `trial`)
//! share: the connection options, connecting to the registry with them,
//! and the `KEY=VALUE` flag parser.

use anyhow::Context;
use joust_client::RegistryClient;

/// Connection options shared by client commands.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientOpts {
    /// Registry address.
    #[arg(
        long,
        env = "JOUST_REGISTRY",
        default_value = "http://127.0.0.1:7070",
        global = true
    )]
    pub registry: String,
    /// Print machine-readable JSON instead of text: one document.
    #[arg(long, env = "JOUST_JSON", global = true, conflicts_with = "json_lines")]
    pub json: bool,
    /// For a command that streams (`trial report --watch`): one JSON
    /// document per line, as each is produced.
    #[arg(long, env = "JOUST_JSON_LINES", global = true)]
    pub json_lines: bool,
    /// The actor recorded in audit events.
    #[arg(long, env = "JOUST_ACTOR", default_value_t = default_actor(), global = true)]
    pub actor: String,
}

fn default_actor() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".to_owned())
}

/// Parses a `KEY=VALUE` flag value.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Connects to the registry of `opts`, recording `opts.actor` in audit events.
pub async fn connect(opts: &ClientOpts) -> anyhow::Result<RegistryClient> {
    Ok(
        RegistryClient::connect_with(&opts.registry, &crate::security::client())
            .await
            .context("is the registry running? (joust registry, or joust up)")?
            .with_actor(opts.actor.clone()),
    )
}
