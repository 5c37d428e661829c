//! A webhook receiver for tests (shared by `webhooks.rs` and
//! `rollout_drills.rs` through `#[path]`): an HTTP server on 127.0.0.1:0
//! that verifies each `X-Joust-Signature` with the `hmac` crate (not the
//! registry's own signer), can fail the first attempts of each delivery or
//! answer slowly, and records every accepted delivery once.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};

pub const SECRET: &str = "a-webhook-secret-of-some-length";

/// A receiver: verifies signatures, fails the first `fail_first` attempts
/// of each delivery with 500, then (after `delay`) answers 204.
#[derive(Default)]
pub struct Receiver {
    pub fail_first: u32,
    pub delay: Duration,
    pub attempts: Mutex<BTreeMap<String, u32>>,
    /// Delivery id → the accepted body (JSON).
    pub delivered: Mutex<BTreeMap<String, serde_json::Value>>,
    /// Accepted twice (must stay empty).
    pub duplicates: Mutex<Vec<String>>,
    pub bad_signatures: Mutex<u32>,
    /// Attempt header of each accepted delivery.
    pub accepted_attempt: Mutex<BTreeMap<String, u32>>,
}

pub fn verify(body: &[u8], header: &str) -> bool {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    header == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if !verify(&body, &h("x-joust-signature")) {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = h("x-joust-delivery");
    let n = {
        let mut a = r.attempts.lock().unwrap();
        let n = a.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    if n <= r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    tokio::time::sleep(r.delay).await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["delivery_id"], id.as_str());
    assert_eq!(json["kind"], h("x-joust-event").as_str());
    r.accepted_attempt
        .lock()
        .unwrap()
        .insert(id.clone(), h("x-joust-attempt").parse().unwrap_or(0));
    if r.delivered
        .lock()
        .unwrap()
        .insert(id.clone(), json)
        .is_some()
    {
        r.duplicates.lock().unwrap().push(id);
    }
    StatusCode::NO_CONTENT
}

pub async fn start_receiver(r: Receiver) -> (Arc<Receiver>, String) {
    let r = Arc::new(r);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (r, url)
}

pub fn write_config(dir: &std::path::Path, endpoints: serde_json::Value) -> String {
    let path = dir.join("webhooks.json");
    let doc = serde_json::json!({
        "endpoints": endpoints,
        "max_attempts": 5,
        "backoff_initial_ms": 100,
        "backoff_max_ms": 1000,
        "timeout_ms": 10000,
        "concurrency": 4,
    });
    std::fs::write(&path, doc.to_string()).unwrap();
    path.display().to_string()
}
