//! Webhooks: audit events POSTed as signed JSON to configured endpoints.
//!
//! `config` parses and validates the endpoints and the delivery policy;
//! `kinds` maps audit events to webhook kinds and builds the payload;
//! `signer` computes `X-Joust-Signature` (HMAC-SHA256); `deliver` is one
//! signed POST (reusable by other services); `store` is the delivery log
//! (`webhook_deliveries`, a cursor per endpoint); `worker` tails the audit
//! log by id into it and delivers with retries. Nothing here runs inside a
//! registry write: events are read after they are committed, so a slow or
//! dead receiver never slows the registry, and a restart loses nothing.
//! It knows nothing of gRPC (the `grpc` module serves the delivery log).

pub mod config;
pub mod deliver;
pub mod kinds;
pub mod signer;
pub mod store;
mod worker;

use std::sync::Arc;

use joust_storage::Database;

use crate::error::{RegistryError, Result};
use crate::metrics::RegistryMetrics;
use crate::watch::EventHub;

pub use config::{Endpoint, WebhookConfig};
pub use deliver::{Deliverer, Message, Outcome};
pub use signer::Signer;
pub use store::{DeliveryFilter, DeliveryRow, DeliveryStatus, WebhookStore};

/// The configured webhooks and their delivery log; cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhooks {
    config: Arc<WebhookConfig>,
    store: WebhookStore,
    deliverer: Deliverer,
}

impl Webhooks {
    /// Webhooks on the registry's database `db` (already migrated).
    pub fn new(config: WebhookConfig, db: &Database) -> Result<Self> {
        config.validate()?;
        let deliverer = Deliverer::new(config.timeout).map_err(RegistryError::Config)?;
        Ok(Self {
            config: Arc::new(config),
            store: WebhookStore::new(db),
            deliverer,
        })
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The delivery log.
    pub fn store(&self) -> &WebhookStore {
        &self.store
    }

    /// Starts every endpoint's cursor (a new endpoint receives the events
    /// written from now on), then one delivery task per endpoint, woken
    /// by `hub` and by a short poll. The tasks run until aborted.
    pub async fn start(
        &self,
        hub: EventHub,
        metrics: Arc<RegistryMetrics>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>> {
        for e in &self.config.endpoints {
            self.store.init_cursor(&e.name).await?;
        }
        let shared = worker::Shared {
            config: self.config.clone(),
            store: self.store.clone(),
            deliverer: self.deliverer.clone(),
            hub,
            metrics,
        };
        Ok(self
            .config
            .endpoints
            .iter()
            .map(|e| tokio::spawn(worker::run(shared.clone(), e.clone())))
            .collect())
    }
}
