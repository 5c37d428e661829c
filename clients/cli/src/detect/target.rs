//! Where the client commands find the detection service: the `--detect`
//! address and `--json` / `--json-lines` flags every command shares, and
//! the connection.

use anyhow::Context;
use joust_proto::v1::detection_client::DetectionClient;
use joust_security::SecureChannel as Channel;

/// Address of the detection service, for client commands (global: also
/// accepted before the subcommand of `rules` and `whitelist`).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Detection service address.
    #[arg(
        long,
        env = "JOUST_DETECT",
        default_value = "http://127.0.0.1:7073",
        global = true
    )]
    pub detect: String,
    /// Print JSON instead of text: one document (a listing is one array
    /// or object).
    #[arg(long, env = "JOUST_JSON", global = true, conflicts_with = "json_lines")]
    pub json: bool,
    /// Print JSON as one object per line (each run, anomaly, job, entry),
    /// for line-oriented tools.
    #[arg(long, env = "JOUST_JSON_LINES", global = true)]
    pub json_lines: bool,
}

impl Target {
    /// Any JSON (`--json` or `--json-lines`): a single object prints the
    /// same either way.
    pub(super) fn any_json(&self) -> bool {
        self.json || self.json_lines
    }
}

/// Connects to the detection service of `target` (64 MiB messages).
pub(super) async fn client(target: &Target) -> anyhow::Result<DetectionClient<Channel>> {
    let channel = joust_client::connect(&target.detect, &crate::security::client())
        .await
        .with_context(|| format!("connecting to the detection service at {}", target.detect))?;
    Ok(DetectionClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}
