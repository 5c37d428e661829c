//! Notifications (issue 18, item 4), on SQLite and PostgreSQL, scoring
//! through a real serving node: a run's new anomalies (after rules and
//! whitelists) arrive as one signed event at a receiver on 127.0.0.1:0
//! (the signature checked with the `hmac` crate, not joust's signer); a
//! failed attempt is retried with the same delivery id and body (at least
//! once); each anomaly's notification state goes `pending` → `sent`, or
//! `failed` once the receiver refused every attempt; whitelisted anomalies
//! are not notified; a queue alert is an event too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, ScoringStack, TestDetect};
use joust_tests::node::eventually;

const SECRET: &str = "a-detection-webhook-secret";

#[derive(Default)]
struct Receiver {
    /// Fail the first attempt of every delivery.
    fail_first: AtomicBool,
    /// Fail every attempt.
    fail_all: AtomicBool,
    attempts: Mutex<BTreeMap<String, u32>>,
    /// Delivery id → the accepted body.
    delivered: Mutex<BTreeMap<String, serde_json::Value>>,
    bad_signatures: AtomicU32,
}

fn verify(body: &[u8], header: &str) -> bool {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    header == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if !verify(&body, &h("x-joust-signature")) {
        r.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let id = h("x-joust-delivery");
    let n = {
        let mut a = r.attempts.lock().unwrap();
        let n = a.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    assert_eq!(h("x-joust-attempt"), n.to_string());
    if r.fail_all.load(Ordering::Relaxed) || (n == 1 && r.fail_first.load(Ordering::Relaxed)) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["delivery_id"], id.as_str());
    assert_eq!(json["kind"], h("x-joust-event").as_str());
    r.delivered.lock().unwrap().insert(id, json);
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (r, url)
}

async fn detect(d: &TestDetect, ticker: &str) -> pb::DetectResponse {
    d.client()
        .detect(pb::DetectRequest {
            ticker: ticker.into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn run_anomalies(d: &TestDetect, run_id: u64) -> Vec<pb::Anomaly> {
    d.client()
        .list_anomalies(pb::ListAnomaliesRequest {
            run_id,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .anomalies
}

async fn notifications(d: &TestDetect, run_id: u64) -> Vec<pb::Notification> {
    d.client()
        .list_notifications(pb::ListNotificationsRequest {
            run_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notifications
}

async fn notify(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let (receiver, url) = start_receiver().await;
    receiver.fail_first.store(true, Ordering::Relaxed);
    let d = TestDetect::start_with(backend, &stack.node.url, &stack.registry.url, |c| {
        let mut n = joust_detect::NotifyConfig::new(&url, SECRET).unwrap();
        n.max_attempts = 3;
        n.backoff_initial = Duration::from_millis(100);
        n.timeout = Duration::from_secs(5);
        n.poll_every = Duration::from_millis(50);
        c.notify = Some(n);
        c.jobs.start_workers = false;
        c.jobs.queue_alert_length = 1;
        c.jobs.monitor_every = Duration::from_millis(50);
    })
    .await
    .unwrap();
    let mut c = d.client();
    c.ingest_synthetic(pb::IngestSyntheticRequest {
        interval: "1d".into(),
        tickers: 3,
        rows: 300,
        seed: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    c.add_whitelist(pb::AddWhitelistRequest {
        ticker: "SYN001".into(),
        reason: "known split".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // A run with anomalies: pending at once, one event.
    let found = detect(&d, "SYN000").await;
    let run = found.run.unwrap();
    assert!(!found.anomalies.is_empty());
    assert!(
        found
            .anomalies
            .iter()
            .all(|a| a.notification_state == "pending")
    );
    let ids: Vec<u64> = found.anomalies.iter().map(|a| a.id).collect();

    // Delivered on the second attempt (the first one is refused), with
    // the same delivery id; the anomalies turn `sent`.
    let event = eventually(Duration::from_secs(30), || async {
        notifications(&d, run.id)
            .await
            .first()
            .is_some_and(|n| n.status == "sent")
    })
    .await;
    assert!(event.is_ok(), "{:?}", notifications(&d, run.id).await);
    let n = notifications(&d, run.id).await;
    assert_eq!(n.len(), 1, "one event per run: {n:?}");
    let n = &n[0];
    assert_eq!(
        (n.kind.as_str(), n.attempts, n.http_status),
        ("detect.anomalies", 2, 204)
    );
    assert!(n.last_error.is_empty(), "{n:?}");
    assert_eq!(
        receiver.attempts.lock().unwrap().get(&n.delivery_id),
        Some(&2)
    );
    let body = receiver.delivered.lock().unwrap()[&n.delivery_id].clone();
    assert_eq!(body["run"]["id"], run.id);
    assert_eq!(body["run"]["ticker"], "SYN000");
    let delivered: Vec<u64> = body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    assert_eq!(delivered, ids);
    assert_eq!(body["anomalies"][0]["model_sha256"], stack.sha256.as_str());
    assert!(
        body["anomalies"][0]["types"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        run_anomalies(&d, run.id)
            .await
            .iter()
            .all(|a| a.notification_state == "sent")
    );

    // A whitelisted series: its anomalies are stored, not notified.
    let quiet = detect(&d, "SYN001").await;
    let quiet_run = quiet.run.unwrap();
    assert!(!quiet.anomalies.is_empty());
    assert!(
        quiet
            .anomalies
            .iter()
            .all(|a| a.whitelisted && a.notification_state.is_empty())
    );
    assert!(notifications(&d, quiet_run.id).await.is_empty());

    // A queue alert (alert length 1) is an event too.
    c.backfill(pb::BackfillRequest {
        ticker: "SYN000".into(),
        period: "max".into(),
        interval: "1d".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let alert = eventually(Duration::from_secs(30), || async {
        receiver
            .delivered
            .lock()
            .unwrap()
            .values()
            .any(|b| b["kind"] == "detect.queue_alert" && b["queue"]["waiting"] == 1)
    })
    .await;
    assert!(alert.is_ok(), "the queue alert arrives");

    // A receiver that refuses every attempt: `failed` after 3, on the
    // event and on every anomaly it carries.
    receiver.fail_all.store(true, Ordering::Relaxed);
    let refused = detect(&d, "SYN002").await;
    let refused_run = refused.run.unwrap();
    assert!(!refused.anomalies.is_empty());
    let failed = eventually(Duration::from_secs(30), || async {
        notifications(&d, refused_run.id)
            .await
            .first()
            .is_some_and(|n| n.status == "failed")
    })
    .await;
    assert!(
        failed.is_ok(),
        "{:?}",
        notifications(&d, refused_run.id).await
    );
    let n = &notifications(&d, refused_run.id).await[0];
    assert_eq!((n.attempts, n.http_status), (3, 500));
    assert_eq!(n.last_error, "the receiver answered HTTP 500");
    assert!(
        run_anomalies(&d, refused_run.id)
            .await
            .iter()
            .all(|a| a.notification_state == "failed")
    );
    let failed_list = c
        .list_notifications(pb::ListNotificationsRequest {
            status: "failed".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(failed_list.len(), 1);
    let e = c
        .list_notifications(pb::ListNotificationsRequest {
            status: "lost".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("status:"), "{e:?}");
    assert_eq!(receiver.bad_signatures.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_anomalies_are_delivered_signed_and_their_state_kept() {
    notify(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_anomalies_are_delivered_signed_and_their_state_kept() {
    notify(Backend::Postgres).await;
}

#[test]
fn a_short_secret_or_a_bad_url_is_refused() {
    let e = joust_detect::NotifyConfig::new("http://127.0.0.1:1/hook", "short")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("notify-secret: expected at least 16 bytes"),
        "{e}"
    );
    let e = joust_detect::NotifyConfig::new("ftp://x/hook", SECRET)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("notify-url: expected http:// or https://"),
        "{e}"
    );
}
