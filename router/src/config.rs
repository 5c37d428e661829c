//! The router's configuration (built from `joust route` flags or by
//! tests) and its validation.

use std::time::Duration;

use crate::error::RouterError;

#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Registry gRPC URL (Watch, ListModels, ListTrials, RecordComparisons).
    pub registry_url: String,
    /// Serving nodes: `host:port` (a DNS name may resolve to several
    /// addresses; every one becomes a pool member).
    pub nodes: Vec<String>,
    /// Full re-read of champions and open trials besides Watch.
    pub reconcile_interval: Duration,
    /// Re-resolution of node names.
    pub resolve_interval: Duration,
    /// Registry reconnect backoff: first delay and cap.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Node ejection backoff: first ejection and cap.
    pub eject_initial: Duration,
    pub eject_max: Duration,
    /// Records per RecordComparisons message.
    pub record_batch: usize,
    /// Longest a record waits for its batch to fill.
    pub record_flush: Duration,
    /// Records held in memory; beyond it new records are dropped (counted).
    pub record_capacity: usize,
    /// Retries of a failed RecordComparisons call (registry unreachable)
    /// before its records are dropped and counted.
    pub record_retries: u32,
    /// Longest a shadow copy may take before it is recorded as
    /// DEADLINE_EXCEEDED.
    pub shadow_timeout: Duration,
    /// Seed of the RNG for unkeyed split and shadow sampling.
    pub seed: u64,
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// Prefix of record ids; unique per router process.
    pub instance_id: String,
    /// TLS, authentication, roles and limits of the gRPC listener.
    pub security: joust_security::ServerSecurity,
    /// TLS and token of the calls to the registry and the nodes (with a
    /// CA, nodes are called over TLS).
    pub client: joust_security::ClientSecurity,
    /// On shutdown, how long in-flight requests may take to finish; then
    /// connections still open (idle clients that never go away would
    /// otherwise hold the drain forever) are closed and the buffered
    /// records are shipped.
    pub drain_timeout: Duration,
    /// Make-before-break: a new champion (or challenger) answers once it
    /// is ready on this many nodes; until then the previous one does.
    pub min_ready_nodes: usize,
    /// A registry champion still not ready on any node this long after the
    /// router first waited for it is a blocked rollout (one refused by
    /// every node that reports is blocked at once).
    pub rollout_block_after: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            registry_url: "http://127.0.0.1:7070".to_owned(),
            nodes: vec!["127.0.0.1:7071".to_owned()],
            reconcile_interval: Duration::from_secs(30),
            resolve_interval: Duration::from_secs(10),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            eject_initial: Duration::from_millis(200),
            eject_max: Duration::from_secs(30),
            record_batch: 1000,
            record_flush: Duration::from_millis(200),
            record_capacity: 100_000,
            record_retries: 5,
            shadow_timeout: Duration::from_secs(10),
            seed: 0,
            max_message_bytes: 16 << 20,
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
            security: joust_security::ServerSecurity::default(),
            client: joust_security::ClientSecurity::default(),
            drain_timeout: Duration::from_secs(20),
            min_ready_nodes: 1,
            rollout_block_after: Duration::from_secs(60),
        }
    }
}

impl RouterConfig {
    pub fn validate(&self) -> Result<(), RouterError> {
        let bad = |m: String| Err(RouterError::Config(m));
        if self.nodes.is_empty() {
            return bad("nodes: expected at least one node address (host:port)".into());
        }
        for n in &self.nodes {
            crate::pool::split_host_port(n)?;
        }
        if !(self.registry_url.starts_with("http://") || self.registry_url.starts_with("https://"))
        {
            return bad(format!(
                "registry: expected an http:// or https:// URL, got {:?}",
                self.registry_url
            ));
        }
        if self.record_batch == 0 || self.record_batch > 10_000 {
            return bad(format!(
                "record-batch: expected 1..=10000 (the registry's limit per message), got {}",
                self.record_batch
            ));
        }
        if self.record_capacity < self.record_batch {
            return bad(format!(
                "record-buffer: expected at least record-batch ({}), got {}",
                self.record_batch, self.record_capacity
            ));
        }
        if self.min_ready_nodes == 0 {
            return bad("min-ready-nodes: expected at least 1, got 0".into());
        }
        for (name, d) in [
            ("reconcile-secs", self.reconcile_interval),
            ("resolve-secs", self.resolve_interval),
            ("record-flush-ms", self.record_flush),
            ("rollout-block-secs", self.rollout_block_after),
        ] {
            if d.is_zero() {
                return bad(format!("{name}: expected a positive duration, got 0"));
            }
        }
        Ok(())
    }
}
