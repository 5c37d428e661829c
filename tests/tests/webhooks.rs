//! Webhooks end to end: real `joust registry` processes (two replicas on
//! one PostgreSQL database, and one on SQLite) POST audit events to HTTP
//! receivers on 127.0.0.1:0. Each event arrives once per endpoint (one
//! receiver fails the first two attempts of every delivery), every
//! signature verifies (checked here with the `hmac` crate, not the
//! registry's own signer), a receiver that takes 5 s per request slows
//! neither the registry's RPCs nor the other endpoint, and a bad webhooks
//! file stops the registry with an error naming the field.
//!
//! The plan kinds (`trial_step_advanced`, `approval_requested`,
//! `trial_aborted`, `trial_promoted`) are written by the rollout
//! controller, which this test does not drive: their endpoint
//! subscriptions are exercised through an audit kind subscribed by name
//! (`version_registered`) and `*`, which go through the same mapping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use joust_proto::v1 as pb;
use joust_tests::TestDatabase;
use joust_tests::node::eventually;
use joust_tests::process::JoustProcess;
use joust_tests::router::two_versions;

#[path = "support/webhook_receiver.rs"]
mod webhook_receiver;
use webhook_receiver::{Receiver, SECRET, start_receiver, write_config};

fn registry(
    database_url: &str,
    blobs: &str,
    webhooks: &str,
    log: &std::path::Path,
) -> JoustProcess {
    JoustProcess::spawn_logged(
        &[
            "registry",
            "--database-url",
            database_url,
            "--blobs",
            blobs,
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--webhooks",
            webhooks,
        ],
        "joust registry listening on",
        Some(log),
    )
    .unwrap()
}

async fn events(ops: &joust_tests::node::RegistryOps) -> Vec<pb::Event> {
    ops.client
        .raw()
        .list_events(pb::ListEventsRequest {
            model: String::new(),
            after_id: 0,
            page_size: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

fn ids(r: &Receiver) -> BTreeSet<String> {
    r.delivered.lock().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_deliver_every_kind_once_per_endpoint() {
    let db = TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = format!("file://{}/blobs", dir.path().display());
    let (flaky, flaky_url) = start_receiver(Receiver {
        fail_first: 2,
        ..Receiver::default()
    })
    .await;
    let (slow, slow_url) = start_receiver(Receiver {
        delay: Duration::from_secs(5),
        ..Receiver::default()
    })
    .await;
    let config = write_config(
        dir.path(),
        serde_json::json!([
            {"name": "flaky", "url": flaky_url, "secret": SECRET, "events": [
                "model_promoted", "model_rolled_back", "rollout_blocked", "approval_requested",
                "trial_step_advanced", "trial_aborted", "trial_promoted", "version_registered"]},
            {"name": "slow", "url": slow_url, "secret": SECRET, "events": ["*"]},
        ]),
    );
    let log = dir.path().join("registry.log");
    // Two replicas on one database: each event still goes out once.
    let a = registry(&db.url, &blobs, &config, &log);
    let b = registry(&db.url, &blobs, &config, &log);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();

    // model_created, version_registered x2, transition (m:1 evaluated),
    // evaluation_overridden, transition m:1 → champion (model_promoted), …
    let ops = two_versions(&a.url).await.unwrap();
    let on_b = joust_tests::node::RegistryOps::new(&b.url);
    // Promotions while the slow receiver is busy stay fast.
    let started = Instant::now();
    ops.transition("m:2", pb::VersionStatus::Champion)
        .await
        .unwrap();
    let promote = started.elapsed();
    let r = on_b
        .client
        .raw()
        .report_rollout_blocked(pb::ReportRolloutBlockedRequest {
            model: "m".into(),
            version: 2,
            reasons: vec![pb::RolloutNodeReason {
                node: "10.0.0.1:7071".into(),
                reason: "refused: checksum mismatch".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.recorded);
    let started = Instant::now();
    on_b.rollback("m").await.unwrap();
    let rollback = started.elapsed();
    let triggered = Instant::now();
    assert!(
        promote < Duration::from_secs(1) && rollback < Duration::from_secs(1),
        "promote {promote:?}, rollback {rollback:?}"
    );

    let all = events(&ops).await;
    let want_flaky: BTreeMap<String, &str> = all
        .iter()
        .filter_map(|e| {
            let kind = match (e.kind.as_str(), e.to.as_str()) {
                ("transition", "champion") => "model_promoted",
                ("rollback", "champion") => "model_rolled_back",
                ("rollout_blocked", _) => "rollout_blocked",
                ("version_registered", _) => "version_registered",
                _ => return None,
            };
            Some((format!("flaky:{}", e.id), kind))
        })
        .collect();
    let kinds: BTreeSet<&str> = want_flaky.values().copied().collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "model_promoted",
            "model_rolled_back",
            "rollout_blocked",
            "version_registered"
        ])
    );
    assert_eq!(want_flaky.len(), 6, "{want_flaky:?}");

    // Every flaky delivery arrives after two refused attempts, well
    // before the slow endpoint is through.
    eventually(Duration::from_secs(30), || async {
        ids(&flaky).len() >= want_flaky.len()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", ids(&flaky), logs()));
    let flaky_took = triggered.elapsed();
    let slow_so_far = ids(&slow).len();
    assert!(
        slow_so_far < all.len(),
        "the slow endpoint was already done ({slow_so_far} of {})",
        all.len()
    );
    assert!(
        flaky_took < Duration::from_secs(5),
        "flaky took {flaky_took:?}"
    );
    eprintln!(
        "promote {promote:?}, rollback {rollback:?} (slow receiver busy); flaky endpoint: {} deliveries, 3 attempts each, done {flaky_took:?} after the last event; slow endpoint {slow_so_far} of {} by then",
        want_flaky.len(),
        all.len()
    );
    assert_eq!(ids(&flaky), want_flaky.keys().cloned().collect());
    for (id, body) in flaky.delivered.lock().unwrap().iter() {
        assert_eq!(body["kind"], want_flaky[id], "{id}: {body}");
        assert_eq!(body["model"], "m");
        assert_eq!(body["endpoint"], "flaky");
    }
    assert!(flaky.attempts.lock().unwrap().values().all(|n| *n == 3));
    assert!(
        flaky
            .accepted_attempt
            .lock()
            .unwrap()
            .values()
            .all(|n| *n == 3)
    );

    // The slow endpoint gets every event (`*`), once.
    let want_slow: BTreeSet<String> = all.iter().map(|e| format!("slow:{}", e.id)).collect();
    eventually(Duration::from_secs(60), || async {
        ids(&slow).len() >= want_slow.len()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", ids(&slow), logs()));
    assert_eq!(ids(&slow), want_slow);
    let promoted = slow
        .delivered
        .lock()
        .unwrap()
        .values()
        .filter(|b| b["kind"] == "model_promoted")
        .count();
    assert_eq!(promoted, 2);

    // Nothing more arrives (a replica sending a second copy would).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for r in [&flaky, &slow] {
        assert!(
            r.duplicates.lock().unwrap().is_empty(),
            "{:?}",
            r.duplicates.lock().unwrap()
        );
        assert_eq!(*r.bad_signatures.lock().unwrap(), 0);
    }
    assert!(slow.attempts.lock().unwrap().values().all(|n| *n == 1));

    // The delivery log over gRPC (either replica): every flaky delivery
    // delivered on its third attempt, newest first, paged.
    let mut raw = on_b.client.raw();
    let mut rows = Vec::new();
    let mut before_id = 0;
    loop {
        let page = raw
            .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                endpoint: "flaky".into(),
                status: "delivered".into(),
                before_id,
                page_size: 4,
            })
            .await
            .unwrap()
            .into_inner();
        rows.extend(page.deliveries);
        if page.next_before_id == 0 {
            break;
        }
        before_id = page.next_before_id;
    }
    assert_eq!(rows.len(), want_flaky.len(), "{rows:?}");
    assert!(rows.windows(2).all(|w| w[0].id > w[1].id));
    for d in &rows {
        assert_eq!(want_flaky[&d.delivery_id], d.kind.as_str());
        assert_eq!(
            (d.attempts, d.last_http_status, d.status.as_str()),
            (3, 204, "delivered")
        );
        assert!(d.finished.is_some() && d.next_attempt.is_none());
    }
    let e = raw
        .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
            status: "lost".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message()
            .contains("status: expected pending, delivered or failed"),
        "{e:?}"
    );
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_delivers_after_retries_and_logs_the_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/registry.db", dir.path().display());
    let blobs = format!("file://{}/blobs", dir.path().display());
    let (hook, url) = start_receiver(Receiver {
        fail_first: 2,
        ..Receiver::default()
    })
    .await;
    let config = write_config(
        dir.path(),
        serde_json::json!([{"name": "ops", "url": url, "secret": SECRET, "events": ["model_promoted"]}]),
    );
    let log = dir.path().join("registry.log");
    let reg = registry(&database_url, &blobs, &config, &log);
    let ops = two_versions(&reg.url).await.unwrap();
    eventually(Duration::from_secs(30), || async { !ids(&hook).is_empty() })
        .await
        .unwrap();
    let promoted = events(&ops)
        .await
        .into_iter()
        .find(|e| e.kind == "transition" && e.to == "champion")
        .unwrap();
    let id = format!("ops:{}", promoted.id);
    assert_eq!(ids(&hook), BTreeSet::from([id.clone()]));
    let body = hook.delivered.lock().unwrap()[&id].clone();
    assert_eq!(body["event_id"], promoted.id);
    assert_eq!(body["version"], 1);
    assert_eq!(body["audit_kind"], "transition");
    assert_eq!(body["to"], "champion");
    assert!(body["time"].as_str().unwrap().ends_with('Z'));

    // The delivery log (read from the database itself).
    let db = joust_storage::open(&database_url).await.unwrap();
    let store = joust_registry::webhooks::WebhookStore::new(&db);
    let rows = store
        .list(&joust_registry::webhooks::DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0].status.as_str(),
            rows[0].attempts,
            rows[0].last_http_status
        ),
        ("delivered", 3, 204)
    );

    // `joust webhooks deliveries` shows the same.
    let out = std::process::Command::new(joust_tests::joust_bin())
        .args(["webhooks", "deliveries", "--registry", &reg.url, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &doc["deliveries"][0];
    assert_eq!(d["delivery_id"], id.as_str());
    assert_eq!(d["kind"], "model_promoted");
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 3);
    let text = std::process::Command::new(joust_tests::joust_bin())
        .args([
            "webhooks",
            "deliveries",
            "--registry",
            &reg.url,
            "--status",
            "delivered",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with(&format!(
            "{id}  model_promoted  delivered  3 attempt(s)  HTTP 204"
        )),
        "{text}"
    );
    drop(reg);
}

#[tokio::test]
async fn without_webhooks_the_delivery_log_is_refused() {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let ops = joust_tests::node::RegistryOps::new(&registry.url);
    let e = ops
        .client
        .raw()
        .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("without --webhooks"), "{e:?}");
}

#[test]
fn a_bad_webhooks_file_stops_the_registry_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webhooks.json");
    std::fs::write(
        &path,
        r#"{"endpoints": [{"name": "ops", "url": "ftp://hooks.example/", "events": ["*"], "secret": "0123456789abcdef"}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(joust_tests::joust_bin())
        .args([
            "registry",
            "--database-url",
            &format!("sqlite://{}/r.db", dir.path().display()),
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--webhooks",
            &path.display().to_string(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("endpoints[0].url: expected an http:// or https:// URL"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

/// A receiver that always answers 500: the delivery is `failed` after
/// `max_attempts`, logged with the last answer, and counted in
/// `joust_registry_webhook_*` (an in-process registry on PostgreSQL with
/// its `/metrics` listener).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_always_fails_is_logged_and_counted() {
    let db = TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (down, url) = start_receiver(Receiver {
        fail_first: u32::MAX,
        ..Receiver::default()
    })
    .await;
    let webhooks = joust_registry::webhooks::WebhookConfig::parse(
        &serde_json::json!({
            "endpoints": [{"name": "down", "url": url, "secret": SECRET, "events": ["model_created"]}],
            "max_attempts": 2,
            "backoff_initial_ms": 50,
        })
        .to_string(),
        |_| None,
    )
    .unwrap();
    let config = joust_registry::RegistryConfig {
        database_url: db.url.clone(),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        webhooks: Some(webhooks),
        ..joust_registry::RegistryConfig::default()
    };
    let registry = joust_registry::server::open(&config).await.unwrap();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, metrics_addr) = (
        format!("http://{}", grpc.local_addr().unwrap()),
        metrics.local_addr().unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(joust_registry::run(
        joust_runtime::Listeners::new(grpc).with_metrics(Some(metrics)),
        registry,
        joust_runtime::RoleConfig::plain(8 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    let ops = joust_tests::node::RegistryOps::new(&url);
    ops.client.create_model("m", "").await.unwrap();
    let mut raw = ops.client.raw();
    let failed = || {
        let mut raw = raw.clone();
        async move {
            raw.list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                status: "failed".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .deliveries
        }
    };
    eventually(Duration::from_secs(30), || async {
        !failed().await.is_empty()
    })
    .await
    .unwrap();
    let d = &failed().await[0];
    assert_eq!(
        (
            d.endpoint.as_str(),
            d.kind.as_str(),
            d.attempts,
            d.last_http_status
        ),
        ("down", "model_created", 2, 500)
    );
    assert_eq!(d.last_error, "the receiver answered HTTP 500");
    assert!(ids(&down).is_empty());
    assert_eq!(down.attempts.lock().unwrap().values().sum::<u32>(), 2);
    let pending = raw
        .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
            status: "pending".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pending.deliveries.is_empty());

    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"joust_registry_webhook_attempts_total{endpoint="down",outcome="refused"} 2"#,
        r#"joust_registry_webhook_deliveries_total{endpoint="down",outcome="failed"} 1"#,
        r#"joust_registry_webhook_attempt_duration_seconds_count{endpoint="down"} 2"#,
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    eventually(Duration::from_secs(5), || async {
        reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(r#"joust_registry_webhook_queue_depth{endpoint="down"} 0"#)
    })
    .await
    .unwrap();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

/// A registry killed (SIGKILL) between attempts: the next one on the same
/// database resumes the pending delivery from the delivery log, and the
/// receiver gets it once, with the same delivery id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_registry_resumes_its_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/registry.db", dir.path().display());
    let blobs = format!("file://{}/blobs", dir.path().display());
    let (hook, url) = start_receiver(Receiver {
        fail_first: 3,
        ..Receiver::default()
    })
    .await;
    let path = dir.path().join("webhooks.json");
    std::fs::write(
        &path,
        serde_json::json!({
            "endpoints": [{"name": "ops", "url": url, "secret": SECRET, "events": ["model_created"]}],
            "max_attempts": 10,
            "backoff_initial_ms": 400,
            "backoff_max_ms": 400,
            "timeout_ms": 2000,
        })
        .to_string(),
    )
    .unwrap();
    let config = path.display().to_string();
    let log = dir.path().join("registry.log");
    let mut first = registry(&database_url, &blobs, &config, &log);
    let ops = joust_tests::node::RegistryOps::new(&first.url);
    ops.client.create_model("m", "").await.unwrap();
    let attempts = || hook.attempts.lock().unwrap().values().sum::<u32>();
    eventually(Duration::from_secs(30), || async { attempts() >= 1 })
        .await
        .unwrap();
    first.kill().unwrap();
    let seen = attempts();
    assert!(
        seen < 4 && ids(&hook).is_empty(),
        "{seen} attempts before the kill"
    );
    let second = registry(&database_url, &blobs, &config, &log);
    eventually(Duration::from_secs(30), || async { !ids(&hook).is_empty() })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    let events = events(&joust_tests::node::RegistryOps::new(&second.url)).await;
    assert_eq!(
        ids(&hook),
        BTreeSet::from([format!("ops:{}", events[0].id)])
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(hook.duplicates.lock().unwrap().is_empty());
    assert_eq!(attempts(), 4);
    drop(second);
}
