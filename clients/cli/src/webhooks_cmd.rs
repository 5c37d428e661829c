//! `joust webhooks`: the registry's webhook delivery log
//! (docs/webhooks.md).

use joust_client::pb;
use serde::Serialize;

use crate::client_opts::{ClientOpts, connect};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// The delivery log, newest first: one line per (endpoint, event) with
    /// its status, attempts, last HTTP status and error.
    Deliveries {
        /// Only this endpoint.
        #[arg(long)]
        endpoint: Option<String>,
        /// Only deliveries in this state.
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Serialize)]
struct DeliveryView {
    id: u64,
    delivery_id: String,
    endpoint: String,
    event_id: u64,
    kind: String,
    status: String,
    attempts: u32,
    last_http_status: u32,
    last_error: String,
    created: String,
    next_attempt: String,
    finished: String,
}

impl From<pb::WebhookDelivery> for DeliveryView {
    fn from(d: pb::WebhookDelivery) -> Self {
        Self {
            id: d.id,
            delivery_id: d.delivery_id,
            endpoint: d.endpoint,
            event_id: d.event_id,
            kind: d.kind,
            status: d.status,
            attempts: d.attempts,
            last_http_status: d.last_http_status,
            last_error: d.last_error,
            created: output::time(&d.created),
            next_attempt: output::time(&d.next_attempt),
            finished: output::time(&d.finished),
        }
    }
}

pub async fn run(args: WebhooksArgs) -> anyhow::Result<()> {
    let client = connect(&args.opts).await?;
    match args.command {
        WebhooksCommand::Deliveries {
            endpoint,
            status,
            limit,
        } => {
            let mut out: Vec<DeliveryView> = Vec::new();
            let mut before_id = 0;
            while (out.len() as u64) < u64::from(limit) {
                let want = limit - u32::try_from(out.len()).unwrap_or(limit);
                let page = client
                    .raw()
                    .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                        endpoint: endpoint.clone().unwrap_or_default(),
                        status: status.clone().unwrap_or_default(),
                        before_id,
                        page_size: want.min(500),
                    })
                    .await?
                    .into_inner();
                out.extend(page.deliveries.into_iter().map(DeliveryView::from));
                if page.next_before_id == 0 {
                    break;
                }
                before_id = page.next_before_id;
            }
            out.truncate(limit as usize);
            if args.opts.json {
                output::json(&serde_json::json!({ "deliveries": out }))?;
            } else {
                for d in &out {
                    print(d);
                }
            }
        }
    }
    Ok(())
}

fn print(d: &DeliveryView) {
    let when = match d.status.as_str() {
        "pending" if !d.next_attempt.is_empty() => format!("next attempt {}", d.next_attempt),
        _ if !d.finished.is_empty() => d.finished.clone(),
        _ => d.created.clone(),
    };
    let http = if d.last_http_status == 0 {
        String::new()
    } else {
        format!("  HTTP {}", d.last_http_status)
    };
    let error = if d.last_error.is_empty() {
        String::new()
    } else {
        format!("  ({})", d.last_error)
    };
    outln!(
        "{}  {}  {}  {} attempt(s){http}  {when}{error}",
        d.delivery_id,
        d.kind,
        d.status,
        d.attempts
    );
}
