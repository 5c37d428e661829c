//! `joust detect notifications`: the webhook events (one per run with new
//! anomalies, and queue alerts) and their delivery state.

use joust_proto::v1 as pb;

use super::target::{Target, client};

#[derive(Debug, clap::Args)]
pub struct NotificationsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Only events in this state: pending, sent or failed.
    #[arg(long, env = "JOUST_DETECT_NOTIFY_STATUS")]
    pub status: Option<String>,
    /// Only the event of this run.
    #[arg(long, env = "JOUST_DETECT_RUN")]
    pub run: Option<u64>,
    /// Page size (at most 1000).
    #[arg(long, env = "JOUST_DETECT_LIMIT", default_value_t = 100)]
    pub limit: u32,
    /// `next_page_token` of the previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

fn json(n: &pb::Notification) -> serde_json::Value {
    serde_json::json!({
        "id": n.id, "delivery_id": n.delivery_id, "kind": n.kind, "run_id": n.run_id,
        "status": n.status, "attempts": n.attempts, "next_attempt_at_ms": n.next_attempt_at_ms,
        "http_status": n.http_status, "last_error": n.last_error,
        "created_at_ms": n.created_at_ms, "updated_at_ms": n.updated_at_ms,
        "body": serde_json::from_str::<serde_json::Value>(&n.body).unwrap_or(serde_json::Value::Null),
    })
}

pub(super) async fn notifications(a: NotificationsArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let r = c
        .list_notifications(pb::ListNotificationsRequest {
            status: a.status.unwrap_or_default(),
            run_id: a.run.unwrap_or(0),
            limit: a.limit,
            page_token: a.page_token,
        })
        .await?
        .into_inner();
    if a.target.json {
        let list: Vec<_> = r.notifications.iter().map(json).collect();
        outln!(
            "{}",
            serde_json::json!({ "notifications": list, "next_page_token": r.next_page_token })
        );
        return Ok(());
    }
    for n in &r.notifications {
        if a.target.json_lines {
            outln!("{}", json(n));
        } else {
            outln!(
                "#{} {} {} run {}: {} after {} attempt(s){}{}",
                n.id,
                n.kind,
                n.delivery_id,
                n.run_id,
                n.status,
                n.attempts,
                if n.http_status > 0 {
                    format!(", HTTP {}", n.http_status)
                } else {
                    String::new()
                },
                if n.last_error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", n.last_error)
                }
            );
        }
    }
    if !a.target.json_lines && !r.next_page_token.is_empty() {
        outln!("next page: --page-token {}", r.next_page_token);
    }
    Ok(())
}
